"""The package's layout keeps its data flow: arrows point one way (docs/architecture.md).

The import graph is built from the source, every import counted (at the top of a module or
deferred into a function), so a circle cannot be hidden by moving an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "week_planner"

# Each room and what it may import from the package: only rooms below it.
FLOORS = {
    "ground": 0,  # config, store, revision_store, kept, wal, clock, tokens, faults
    "schedule": 1,  # files → model
    "publish": 2,  # model → bytes
    "reminders": 3,  # who gets what when, and sending it
    "web": 4,  # HTTP
    "top": 5,  # the app factory, the command line, the gunicorn hooks
}
GROUND = {"config", "store", "revision_store", "kept", "wal", "clock", "tokens", "faults"}
TOP = {"week_planner", "cli", "gunicorn_hooks"}
PURE_ROOMS = {"schedule", "publish"}  # no Flask, no SQLAlchemy
WEB_OR_DATABASE = {"flask", "werkzeug", "sqlalchemy", "alembic", "flask_wtf", "wtforms"}
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = ("week_planner",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))
            if "migrations" not in path.parts}


def room(module: str) -> str:
    parts = module.split(".")
    if module == "week_planner" or parts[1] in TOP:
        return "top"
    if len(parts) == 2 and parts[1] in GROUND:
        return "ground"
    return parts[1]


def imports(module: str, path: Path) -> set[str]:
    """Every module name imported by ``module`` (package-relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            found.add(origin)
            for alias in node.names:  # "from . import jalali" imports a module
                found.add(f"{origin}.{alias.name}")
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {}
    for module, path in known.items():
        edges[module] = {name for name in imports(module, path)
                         if name in known and name != module}
    return edges


def test_the_rooms_are_the_documented_ones():
    assert {room(module) for module in modules()} == set(FLOORS)


def test_no_module_imports_a_higher_room():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            # A package's own __init__ is imported on the way to its modules: not an arrow.
            if module.startswith(target + ".") or target == "week_planner" and \
                    room(module) == "top":
                continue
            if FLOORS[room(target)] > FLOORS[room(module)]:
                wrong.append(f"{module} → {target}")
    assert wrong == []


def test_no_import_circle():
    edges = graph()
    state: dict[str, str] = {}
    circles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            if module.startswith(target + "."):
                continue  # a module's own package
            if state.get(target) == "open":
                circles.append(trail[trail.index(target):] + [module, target]
                               if target in trail else [module, target])
            elif target not in state:
                visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert circles == []


@pytest.mark.parametrize("name", sorted(m for m in modules() if room(m) in PURE_ROOMS))
def test_schedule_and_publish_import_neither_flask_nor_sqlalchemy(name):
    path = modules()[name]
    used = {module.split(".")[0] for module in imports(name, path)}
    assert used & WEB_OR_DATABASE == set()


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_too_long_to_read_at_once(name):
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines"


def test_the_checks_can_fail(tmp_path):
    # The graph reader sees a deferred import, and the circle finder finds a circle.
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from .reminders import outbox\n", encoding="utf-8")
    assert "week_planner.reminders.outbox" in imports("week_planner.x", path)
    assert room("week_planner.web.pages") == "web" and room("week_planner.cli") == "top"
