"""The programme model: frozen dataclasses built by ``loading`` and read by everything else.

No I/O here. Dates are Gregorian ``datetime.date`` values (``jalali`` formats them);
occurrences carry timezone-aware datetimes in the programme's timezone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

STATUSES = ("scheduled", "tentative", "cancelled")


def paragraphs(text: str | None) -> list[str]:
    """Paragraphs of a description as organisers write it in YAML: blank lines separate
    them; a single line break is where the editor wrapped, so it joins."""
    if not text:
        return []
    blocks = [" ".join(line.strip() for line in block.splitlines() if line.strip())
              for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


def description_text(text: str | None) -> str:
    """A description for calendars, mail and conference apps: its paragraphs, each one
    line, separated by a blank line (no breaks in mid-sentence)."""
    return "\n\n".join(paragraphs(text))


@dataclass(frozen=True)
class Contact:
    phone: str | None = None
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    color: str | None = None  # "#rrggbb"
    reminders: tuple[dt.timedelta, ...] = ()


@dataclass(frozen=True)
class Venue:
    id: str | None  # None for a venue written inline in an event
    name: str
    address: str | None = None
    location: tuple[float, float] | None = None  # (latitude, longitude)


@dataclass(frozen=True)
class Occurrence:
    """One concrete time an event happens."""

    event_id: str
    day: dt.date  # the Gregorian day it starts on, in the programme's timezone
    start: dt.datetime  # aware; for an all-day event, midnight at the start of ``day``
    end: dt.datetime  # aware; for an all-day event, midnight at the end of ``day``
    all_day: bool
    repeated: bool  # True when the event has more than one date

    @property
    def key(self) -> str:
        """Stable per-occurrence key: the event id, plus the date for repeated events."""
        if self.repeated:
            return f"{self.event_id}@{self.day.isoformat()}"
        return self.event_id


@dataclass(frozen=True)
class Event:
    id: str
    title: str
    category: Category
    dates: tuple[dt.date, ...]
    occurrences: tuple[Occurrence, ...]
    all_day: bool = False
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    duration: dt.timedelta | None = None
    venue: Venue | None = None
    description: str | None = None
    hosts: tuple[str, ...] = ()
    own_reminders: tuple[dt.timedelta, ...] | None = None  # None: use the category's
    notify: tuple[str, ...] = ()
    status: str = "scheduled"
    url: str | None = None
    line: int = 0  # line of the event in its file

    @property
    def reminders(self) -> tuple[dt.timedelta, ...]:
        """The reminder offsets in force: the event's own, else its category's."""
        if self.own_reminders is not None:
            return self.own_reminders
        return self.category.reminders

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def tentative(self) -> bool:
        return self.status == "tentative"


@dataclass(frozen=True)
class Programme:
    id: str
    title: str
    organiser: str
    timezone: str
    first_day: dt.date  # ``from``, Gregorian
    last_day: dt.date  # ``to``, inclusive
    categories: Mapping[str, Category]
    venues: Mapping[str, Venue]
    events: tuple[Event, ...]
    description: str | None = None
    contact: Contact | None = None
    draft: bool = False
    province: str | None = None  # the id of one of Iran's provinces (schedule/provinces.py)
    county: str | None = None
    source: str = ""  # the file it was loaded from
    version: str = ""  # a digest of the file's bytes
    _events_by_id: Mapping[str, Event] = field(default_factory=dict, repr=False,
                                              compare=False)

    def __post_init__(self):
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        object.__setattr__(self, "venues", MappingProxyType(dict(self.venues)))
        object.__setattr__(self, "_events_by_id",
                           MappingProxyType({event.id: event for event in self.events}))

    _READ_ONLY = ("categories", "venues", "_events_by_id")

    def __getstate__(self) -> dict:
        """For pickling (schedule/kept_loads.py): the read-only mappings as plain dicts,
        wrapped again by ``__setstate__``."""
        state = dict(self.__dict__)
        for name in self._READ_ONLY:
            state[name] = dict(state[name])
        return state

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, MappingProxyType(value)
                               if name in self._READ_ONLY else value)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def event(self, event_id: str) -> Event | None:
        return self._events_by_id.get(event_id)

    @property
    def days(self) -> tuple[dt.date, ...]:
        count = (self.last_day - self.first_day).days + 1
        return tuple(self.first_day + dt.timedelta(days=n) for n in range(count))

    def occurrences(self, category: str | None = None) -> list[Occurrence]:
        """Every occurrence in time order (all-day ones first on their day)."""
        found = [occ for event in self.events
                 if category is None or event.category.id == category
                 for occ in event.occurrences]
        return sorted(found, key=lambda o: (o.day, not o.all_day, o.start, o.end, o.event_id))

    def occurrences_on(self, day: dt.date, category: str | None = None) -> list[Occurrence]:
        return [occ for occ in self.occurrences(category) if occ.day == day]

    def start(self) -> dt.datetime:
        """Midnight at the start of the first day, in the programme's timezone."""
        return dt.datetime.combine(self.first_day, dt.time(), self.tz)

    def end(self) -> dt.datetime:
        """Midnight at the end of the last day (or the latest event's end if later)."""
        end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), self.tz)
        ends = [occ.end for event in self.events for occ in event.occurrences]
        return max([end, *ends])

    def phase(self, now: dt.datetime) -> str:
        """``before``, ``during`` or ``after`` the week, at ``now``."""
        if now < self.start():
            return "before"
        if now >= self.end():
            return "after"
        return "during"
