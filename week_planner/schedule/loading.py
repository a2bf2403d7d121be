"""Schedule YAML → model; every problem becomes a Problem with file, line, column, key path.

Entry points: ``load_file(path)`` and ``load_text(data, filename)`` return a LoadResult
holding either a Programme or the problems that kept one from being built (warnings may
come with a programme). ``check_paths`` checks files and folders as ``week-planner check``
does, including programme ids repeated across files.

The YAML is read safely: the document is composed into nodes with no implicit typing
(YAML 1.1 would turn ``1404-06-11`` into a Gregorian date and ``16:00`` into 960), no tag
that builds an object is accepted, duplicate keys are refused and aliases may not expand
beyond a sane size. Plain scalars are typed as in YAML 1.2's core schema.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from week_planner.schedule.building import Builder
from week_planner.schedule.model import Programme
from week_planner.schedule.problems import N_, Problem
from week_planner.schedule.rules import MAX_FILE_BYTES, MAX_PROBLEMS, MAX_SEPARATORS
from week_planner.schedule.yaml_reading import (
    Converter,
    Loader,
    Mark,
    Refused,
    cyclic_gc_paused,
)
from week_planner.schedule.yaml_syntax import later_syntax_problems, syntax_problem


@dataclass
class LoadResult:
    file: str
    programme: Programme | None = None
    problems: list[Problem] = field(default_factory=list)
    id_mark: Mark | None = None  # where the programme id is written

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return self.programme is not None and not self.errors


def load_file(path: str | Path, display_name: str | None = None,
              channels: Iterable[str] | None = None) -> LoadResult:
    """Read and validate one schedule file. Never raises for anything in the file."""
    name = display_name or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return LoadResult(name, problems=[Problem(name, 0, 0, "unreadable-file", N_(
            "The file cannot be read: {reason}"), {"reason": error.strerror or str(error)})])
    return load_text(data, name, channels=channels)


def load_text(data: bytes | str, filename: str = "<text>",
              channels: Iterable[str] | None = None) -> LoadResult:
    """Validate a schedule given as bytes (or text) and build its Programme."""
    result = LoadResult(filename)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        result.problems.append(Problem(filename, 0, 0, "file-too-large", N_(
            "The file is larger than 1 MB. Split the week into one file per programme."),
            {}))
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        result.problems.append(Problem(filename, line, column, "not-utf8", N_(
            "The file is not UTF-8 text. Save it again as UTF-8 (in Notepad: Save As, "
            "Encoding: UTF-8)."), {}))
        return result
    text = text.lstrip("\ufeff")
    if not text.strip() or all(not line.strip() or line.lstrip().startswith("#")
                               for line in text.splitlines()):
        result.problems.append(Problem(filename, 0, 0, "empty-file", N_(
            "The file is empty. Start it with 'programme:' (see docs/schedule-format.md)."),
            {}))
        return result

    separators = text.count("\n") + text.count(",")
    if separators > MAX_SEPARATORS:
        result.problems.append(Problem(filename, 0, 0, "too-many", N_(
            "The file has {found} lines and commas; a programme has far fewer (at most "
            "{limit}). Check that this is the right file."), {
                "found": separators, "limit": MAX_SEPARATORS}))
        return result
    try:
        with cyclic_gc_paused():
            node = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError as error:
        first = syntax_problem(filename, text, error)
        result.problems.append(first)
        result.problems.extend(later_syntax_problems(filename, text, first))
        return result

    converter = Converter()
    try:
        with cyclic_gc_paused():
            document = converter.convert(node)
    except Refused as refused:
        result.problems.append(Problem(filename, refused.mark.line, refused.mark.column,
                                       refused.code, refused.message, refused.args_))
        return result
    except RecursionError:
        result.problems.append(Problem(filename, 0, 0, "too-deep", N_(
            "The file is nested too deeply to be a schedule."), {}))
        return result
    for mark, key, first in converter.duplicates:
        result.problems.append(Problem(filename, mark.line, mark.column, "duplicate-key", N_(
            "The key '{key}' appears twice in the same place (first on line {first}). "
            "Keep one of them: otherwise one value would be silently lost."),
            {"key": key, "first": first.line}))

    builder = Builder(filename, channels)
    programme = builder.build(document, hashlib.sha256(raw).hexdigest()[:16])
    result.problems.extend(builder.problems)
    result.id_mark = builder.id_mark
    result.problems.sort(key=lambda p: (p.line, p.column, p.severity != "error"))
    unreported = dict(builder.unreported)
    for problem in result.problems[MAX_PROBLEMS:]:
        unreported[problem.severity] += 1
    del result.problems[MAX_PROBLEMS:]
    if unreported["error"] or unreported["warning"]:
        result.problems.append(Problem(
            filename, 0, 0, "too-many-problems", N_(
                "… and {count} more problems ({errors} of them errors) that are not listed. "
                "Correct the ones above and check the file again."),
            {"count": unreported["error"] + unreported["warning"],
             "errors": unreported["error"]},
            "error" if unreported["error"] else "warning"))
    if not result.errors and not builder.error_count:
        result.programme = programme
    return result


def check_paths(paths: Iterable[str | Path], channels: Iterable[str] | None = None,
                ) -> list[LoadResult]:
    """Load every schedule file under ``paths``; add duplicate programme ids as errors."""
    files = schedule_files(paths)
    results = [load_file(path, channels=channels) for path in files]
    order = sorted(range(len(files)), key=lambda i: keeping_order(files[i]))
    add_duplicate_id_problems([results[i] for i in order])
    return results


def keeping_order(path: Path) -> tuple:
    """Which of two files with one programme id keeps it: the one changed longer ago (the
    original, not the copy being edited), and on equal times the first by name. The
    registry serves a folder by the same rule when it starts."""
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        modified = 0
    return (modified, str(path))


def schedule_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files given, and the schedule files of each folder given, by name. A folder
    is listed with ``os.scandir``, whose entries know whether they are files without a
    ``stat`` each, and sorted by name rather than as Paths: the registry looks at a
    national folder of thousands of files once a second."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            with os.scandir(path) as entries:
                names = sorted(entry.name for entry in entries
                               if entry.name.endswith((".yaml", ".yml"))
                               and not entry.name.startswith(".") and entry.is_file())
            files.extend(path / name for name in names)
        else:
            files.append(path)
    return files


def add_duplicate_id_problems(results: list[LoadResult]) -> None:
    """Files sharing a programme id, given in keeping order (the first keeps the id, as it
    is the one served): every later one gets an error at its id naming the first, and no
    programme."""
    seen: dict[str, LoadResult] = {}
    for result in results:
        programme = result.programme
        if programme is None:
            continue
        first = seen.get(programme.id)
        if first is None:
            seen[programme.id] = result
            continue
        mark = result.id_mark or Mark(0, 0)
        result.problems.append(Problem(result.file, mark.line, mark.column,
                                       "duplicate-programme-id", N_(
            "The programme id '{id}' is already used by {other}, which keeps it; this file "
            "is not published until it has an id of its own. Programme ids must be unique "
            "across the schedules folder."),
            {"id": programme.id, "other": first.file}, path="programme.id"))
        result.problems.sort(key=lambda p: (p.line, p.column, p.severity != "error"))
        result.programme = None


