"""The ``events:`` list: each event, its references, and venues used twice at once."""

from __future__ import annotations

import zoneinfo
from typing import Any

from week_planner.schedule import jalali
from week_planner.schedule.checks.times import make_occurrence
from week_planner.schedule.checks.values import WHAT, stated, suggest_reference, valid_timezone
from week_planner.schedule.model import STATUSES, Category, Event, Occurrence, Venue
from week_planner.schedule.problems import N_
from week_planner.schedule.rules import EVENT_KEYS, MAX_EVENTS, MAX_LONG_TEXT
from week_planner.schedule.yaml_reading import Mark, YMap, YSeq, written_length


class EventChecks:
    def events(self, document: YMap, header: dict | None, categories: dict[str, Category],
               venues: dict[str, Venue]) -> list[Event]:
        section = document.get("events")
        if section is None:
            return []
        if not isinstance(section, YSeq):
            self.problem(document.value_marks["events"], "wrong-type", N_(
                "'events' must be a list: each event starts with '- id: ...'."), "events")
            return []
        seen: dict[str, Mark] = {}
        events = []
        if written_length(section) > MAX_EVENTS:
            self.too_many(document.value_marks["events"], WHAT["events"], written_length(section),
                          MAX_EVENTS, "events")
        for index, (item, mark) in enumerate(zip(section[:MAX_EVENTS], section.item_marks)):
            event = self.event(item, mark, f"events[{index}]", header, categories, venues)
            if event is None:
                continue
            if event.id in seen:
                self.problem(item.value_marks["id"], "duplicate-event-id", N_(
                    "The event id '{id}' is used twice, on lines {first} and {second}. "
                    "Give each event its own id, and never reuse an old one."),
                    f"events[{index}].id", id=event.id, first=seen[event.id].line,
                    second=item.value_marks["id"].line)
                continue
            seen[event.id] = item.value_marks["id"]
            self.event_marks[event.id] = mark
            events.append(event)
        return events

    def event(self, item: Any, mark: Mark, path: str, header: dict | None,
              categories: dict[str, Category], venues: dict[str, Venue]) -> Event | None:
        if not isinstance(item, YMap):
            self.problem(mark, "wrong-type", N_(
                "Each event is a mapping that starts with '- id: ...'."), path)
            return None
        before = self.error_count
        self.keys(item, EVENT_KEYS, ("id", "title", "category"), path)
        event_id = None
        if "id" in item:
            event_id = self.slug(item["id"], item.value_marks["id"], f"{path}.id", WHAT["event"])
        title = self.text(item, "title", f"{path}.title", required=True)

        category = None
        if item.get("category") is not None:
            name = str(item["category"])
            category = categories.get(name)
            if category is None and name not in self.declared["categories"]:
                self.problem(item.value_marks["category"], "unknown-category", N_(
                    "There is no category '{value}' under 'categories'{hint}."),
                    f"{path}.category", value=name, hint=suggest_reference(
                        name, {key: c.label for key, c in categories.items()}))

        dates = self.event_dates(item, path, header)
        all_day, start, end, duration = self.event_times(item, path)

        venue = None
        if item.get("venue") is not None:
            if isinstance(item["venue"], YMap):
                venue = self.venue(item["venue"], item.value_marks["venue"], f"{path}.venue",
                                   None)
            else:
                name = str(item["venue"])
                venue = venues.get(name)
                if venue is None and name not in self.declared["venues"]:
                    self.problem(item.value_marks["venue"], "unknown-venue", N_(
                        "There is no venue '{value}' under 'venues'{hint}."),
                        f"{path}.venue", value=name, hint=suggest_reference(
                            name, {key: v.name for key, v in venues.items()}))

        status = self.text(item, "status", f"{path}.status") or "scheduled"
        if status not in STATUSES:
            self.problem(item.value_marks["status"], "invalid-status", N_(
                "'{value}' is not a status; use scheduled, tentative or cancelled."),
                f"{path}.status", value=status)
            status = "scheduled"
        notify = self.text_list(item, "notify", f"{path}.notify")
        if self.channels is not None:
            for name in notify:
                if name not in self.channels:
                    self.problem(item.value_marks["notify"], "unknown-channel", N_(
                        "The channel '{value}' is not defined in the channels file."),
                        f"{path}.notify", severity="warning", value=name)
        own_reminders = self.offsets(item, "reminders", f"{path}.reminders")
        description = self.text(item, "description", f"{path}.description",
                                limit=MAX_LONG_TEXT)
        hosts = self.text_list(item, "hosts", f"{path}.hosts")
        url = self.url(item, "url", f"{path}.url")

        if self.error_count > before or not (event_id and title and category and dates) \
                or header is None:
            return None
        tz = zoneinfo.ZoneInfo(header["timezone"]) if valid_timezone(header["timezone"]) \
            else None
        if tz is None:
            return None
        occurrences = tuple(
            make_occurrence(event_id, day, tz, all_day, start, end, duration, len(dates) > 1)
            for day in dates)
        if not all_day:
            self.edge_times(item, path, dates, tz, header["timezone"],
                            (("start", start), ("end", end)))
        return Event(id=event_id, title=title, category=category, dates=dates,
                     occurrences=occurrences, all_day=all_day, start_time=start,
                     end_time=end, duration=duration, venue=venue,
                     description=description, hosts=hosts, own_reminders=own_reminders,
                     notify=notify, status=status, url=url, line=mark.line)

    def venue_overlaps(self, events: list[Event]) -> None:
        by_venue: dict[str, list[tuple[Occurrence, Event]]] = {}
        for event in events:
            if event.venue is None or event.cancelled:
                continue
            key = event.venue.id or jalali.normalise_letters(event.venue.name)
            for occurrence in event.occurrences:
                by_venue.setdefault(key, []).append((occurrence, event))
        for entries in by_venue.values():
            entries.sort(key=lambda pair: (pair[0].start, pair[0].end))
            for (first, first_event), (second, second_event) in zip(entries, entries[1:]):
                if second.start < first.end and not (first.all_day or second.all_day):
                    self.problem(self.event_marks[second_event.id], "venue-overlap", N_(
                        "'{second}' overlaps '{first}' (line {line}) at the same venue on "
                        "{day}."), severity="warning", path=f"events.{second_event.id}",
                        first=first_event.id, second=second_event.id,
                        line=first_event.line, day=stated(jalali.iso_jalali(second.day)))
