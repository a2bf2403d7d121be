"""docs/schedule-format.md stays true: its examples load, and it documents every key and
every problem code the loader has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from week_planner.schedule import rules
from week_planner.schedule.loading import load_text

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "schedule-format.md").read_text(encoding="utf-8")


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end if end != -1 else len(DOC)]


def loader_codes() -> dict[str, set[str]]:
    """Every code the loader reports (the string passed just before an N_(...) message),
    with the severities it is reported with."""
    codes: dict[str, set[str]] = {}
    nodes = [node for path in sorted((ROOT / "week_planner" / "schedule").rglob("*.py"))
             if path.name != "registry.py"  # what publishing flags, not what check says
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))]
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        for before, after in zip(node.args, node.args[1:]):
            if (isinstance(after, ast.Call) and isinstance(after.func, ast.Name)
                    and after.func.id == "N_" and isinstance(before, ast.Constant)
                    and isinstance(before.value, str)):
                severity = next((keyword.value.value for keyword in node.keywords
                                 if keyword.arg == "severity"
                                 and isinstance(keyword.value, ast.Constant)), "error")
                codes.setdefault(before.value, set()).add(severity)
    return codes


def all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(map(str, value)) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


def test_complete_example_loads_without_a_problem():
    [example] = yaml_blocks(section("A complete example"))
    result = load_text(example, "example.yaml", channels={"organisers"})
    assert result.problems == [], [p.format("en") for p in result.problems]
    programme = result.programme
    assert programme.draft
    assert {event.status for event in programme.events} == {"scheduled", "tentative",
                                                            "cancelled"}
    assert any(event.all_day for event in programme.events)
    assert any(len(event.dates) > 1 for event in programme.events)
    assert any(event.own_reminders == () for event in programme.events)


def test_complete_example_uses_every_key_of_the_format():
    [example] = yaml_blocks(section("A complete example"))
    used = all_keys(yaml.safe_load(example))
    every = set(rules.TOP_KEYS + rules.PROGRAMME_KEYS + rules.CONTACT_KEYS
                + rules.CATEGORY_KEYS + rules.VENUE_KEYS + rules.EVENT_KEYS)
    # An event has one of date/dates, and one of end/duration, so both appear in turn.
    assert every - used == set(), sorted(every - used)


def test_smallest_programme_loads():
    example = yaml_blocks(section("The smallest programme"))[0]
    result = load_text(example, "smallest.yaml")
    assert result.ok and result.problems == [], [p.format("en") for p in result.problems]


def test_every_key_is_in_a_table():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section("The sections and their keys"),
                                flags=re.MULTILINE))
    for keys in (rules.TOP_KEYS, rules.PROGRAMME_KEYS, rules.CONTACT_KEYS,
                 rules.CATEGORY_KEYS, rules.VENUE_KEYS, rules.EVENT_KEYS):
        assert set(keys) <= documented, sorted(set(keys) - documented)


def test_every_problem_code_is_in_the_table_and_no_other():
    table = section("Every error and warning")
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \| (?:error|warning) \|", table,
                                flags=re.MULTILINE))
    codes = set(loader_codes())
    assert len(codes) >= 30, codes
    assert codes == documented, {"undocumented": sorted(codes - documented),
                                 "not in the loader": sorted(documented - codes)}


def test_documented_severities_match_the_loader():
    table = section("Every error and warning")
    documented = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (error|warning) \|", table,
                                 flags=re.MULTILINE))
    for code, severities in loader_codes().items():
        assert severities == {documented[code]}, (code, severities)


def test_reserved_ids_are_listed():
    paragraph = section("Ids").split("(`reserved-id`):", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`([^`]+)`", paragraph)) == set(rules.RESERVED_IDS)
