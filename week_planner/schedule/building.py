"""The composed YAML document → a Programme, or the problems that keep one from being
built. ``Builder(filename, channels).build(document, version)``; the checks themselves live
in ``schedule/checks/``, one module per part of the file."""

from __future__ import annotations

from typing import Any, Iterable

from week_planner.schedule.checks.events import EventChecks
from week_planner.schedule.checks.programme import ProgrammeChecks
from week_planner.schedule.checks.sections import SectionChecks
from week_planner.schedule.checks.times import TimeChecks
from week_planner.schedule.checks.values import ValueChecks
from week_planner.schedule.model import Programme
from week_planner.schedule.problems import N_, Problem
from week_planner.schedule.rules import TOP_KEYS
from week_planner.schedule.yaml_reading import Mark, YMap


class Builder(ProgrammeChecks, SectionChecks, EventChecks, TimeChecks, ValueChecks):
    """Checks the composed document against the format and builds the model: each base
    class checks one part (the programme's header, its categories and venues, its events,
    their dates and times) with the generic checks of ValueChecks; problems are collected
    in ``problems`` (the first MAX_PROBLEMS) and counted in ``error_count``."""

    def __init__(self, filename: str, channels: Iterable[str] | None):
        self.file = filename
        self.channels = set(channels) if channels is not None else None
        self.problems: list[Problem] = []
        self.error_count = 0  # every error found, reported or not
        self.unreported: dict[str, int] = {"error": 0, "warning": 0}
        self.event_marks: dict[str, Mark] = {}
        self.id_mark: Mark | None = None
        # Ids written under categories / venues, including those with errors of their own
        # (an event naming one of them is not told that it does not exist).
        self.declared: dict[str, set[str]] = {"categories": set(), "venues": set()}


    def build(self, document: Any, version: str) -> Programme | None:
        if not isinstance(document, YMap):
            self.problem(getattr(document, "mark", Mark(1, 1)), "wrong-type", N_(
                "A schedule file must be a mapping that starts with 'programme:'."))
            return None
        self.keys(document, TOP_KEYS, ("programme", "categories", "events"), "")
        head = self.mapping(document, "programme", "programme")
        if "programme" in document and head is None and document["programme"] is None:
            self.problem(document.key_marks["programme"], "missing-key", N_(
                "'{key}' is empty; it is required."), "programme", key="programme")
        header = self.programme_header(head) if head is not None else None
        categories = self.categories(document)
        venues = self.venues(document)
        events = self.events(document, header, categories, venues)
        if header is None or self._has_errors():
            return None
        self.venue_overlaps(events)
        return Programme(categories=categories, venues=venues, events=tuple(events),
                         source=self.file, version=version, **header)

    def _has_errors(self) -> bool:
        return self.error_count > 0
