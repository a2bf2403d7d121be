"""The national index: the programmes served, grouped by province, each with where its
week stands at a moment (running, upcoming, finished), and a search that reads Persian as
people type it.

``Directory(programmes)`` works out once what does not depend on the time (each
programme's start, end and search text, kept across snapshots by programme version, so an
edit of one county's file costs one programme); ``at(now)`` sorts the groups for a moment.
Pure: no Flask; web/directory.py serves it.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import heapq
import itertools
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

from week_planner.schedule import jalali, provinces
from week_planner.schedule.model import Programme

OTHER = "other"  # the group of programmes that name no province
OTHER_NAME = "بدون استان"
RUNNING, UPCOMING, FINISHED = "running", "upcoming", "finished"  # a week's state

# Letters written in more than one way: Arabic ي ى ك ة, hamza forms of alef, waw and yeh.
_FOLD = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ۀ": "ه", "أ": "ا", "إ": "ا",
                       "آ": "ا", "ٱ": "ا", "ؤ": "و", "ئ": "ی"})
# Marks that change nothing people search by: harakat, tatweel, ZWNJ/ZWJ, direction marks.
_DROP = re.compile("[\u064b-\u065f\u0670\u0640\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[\s\-_.,،؛:/()«»\"']+")
MAX_QUERY = 100  # characters of a search read; the rest is ignored


def searchable(text: str) -> str:
    """``text`` as it is compared: letters folded (ی/ي, ک/ك, آ/ا …), Persian and
    Arabic-Indic digits as Latin, no ZWNJ, diacritics or spaces, lower case."""
    text = jalali.to_ascii_digits(jalali.normalise_letters(text)).translate(_FOLD)
    return _SPACES.sub("", _DROP.sub("", text)).lower()


def query_terms(query: str) -> list[str]:
    """The words of a search, each ``searchable`` (a space or ZWNJ between two parts of a
    word, or none, all match: the text searched has none)."""
    words = _SPACES.split(_DROP.sub("", query[:MAX_QUERY].replace("\u200c", "")))
    return [term for term in (searchable(word) for word in words) if term]


@dataclass(frozen=True, slots=True)
class Entry:
    """A programme in the index, with what the time does not change."""

    programme: Programme
    group: str  # a province id, or OTHER
    start: dt.datetime
    end: dt.datetime
    text: str  # title, organiser, county and province, ``searchable``
    # start and end as POSIX timestamps: thousands of entries are compared at a time,
    # and floats compare many times faster than aware datetimes
    starts_at: float
    ends_at: float

    def state(self, now: dt.datetime) -> str:
        return self.state_at(now.timestamp())

    def state_at(self, timestamp: float) -> str:
        if timestamp < self.starts_at:
            return UPCOMING
        return RUNNING if timestamp < self.ends_at else FINISHED


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    entries: tuple[Entry, ...]  # running, then upcoming (soonest first), then finished
    running: int
    upcoming: int
    total: int  # every entry of the group, where ``entries`` may hold the first ones only


def group_name(group_id: str) -> str | None:
    return OTHER_NAME if group_id == OTHER else provinces.NAMES.get(group_id)


def _order(entries: Iterable[Entry], now: dt.datetime,
           first: int | None = None) -> list[Entry]:
    """Running ones (ending soonest first), upcoming (starting soonest), finished (the
    most recent first); the title decides ties. Only the ``first`` ones, when given (the
    home page shows a few of thousands: no need to sort them all)."""
    timestamp = now.timestamp()

    def key(entry: Entry):
        if timestamp < entry.starts_at:
            return (1, entry.starts_at, entry.programme.title)
        if timestamp < entry.ends_at:
            return (0, entry.ends_at, entry.programme.title)
        return (2, -entry.ends_at, entry.programme.title)
    if first is not None:
        return heapq.nsmallest(first, entries, key=key)
    return sorted(entries, key=key)


class Directory:
    """The index of one list of programmes (see the module docstring)."""

    _serials = itertools.count(1)

    def __init__(self, programmes: Iterable[Programme], known: dict | None = None):
        self.serial = next(self._serials)  # tells this directory from any made before
        known = known if known is not None else {}
        self.entries: list[Entry] = []
        for programme in programmes:
            entry = known.get((programme.id, programme.version))
            if entry is None:
                entry = _entry(programme)
            elif entry.programme is not programme:  # the same file read again
                entry = dataclasses.replace(entry, programme=programme)
            self.entries.append(entry)
        self._by_group: dict[str, list[Entry]] = {}
        for entry in self.entries:
            self._by_group.setdefault(entry.group, []).append(entry)
        self._moments = sorted({moment for entry in self.entries
                                for moment in (entry.start, entry.end)})

    def known(self) -> dict:
        """What a next ``Directory`` may reuse: entries by programme id and version."""
        return {(entry.programme.id, entry.programme.version): entry
                for entry in self.entries}

    def next_change(self, now: dt.datetime) -> dt.datetime | None:
        """The first moment after ``now`` at which a programme's state changes."""
        index = bisect.bisect_right(self._moments, now)
        return self._moments[index] if index < len(self._moments) else None

    def last_change(self, now: dt.datetime) -> dt.datetime | None:
        """The last moment up to ``now`` at which a programme's state changed."""
        index = bisect.bisect_right(self._moments, now)
        return self._moments[index - 1] if index else None

    def groups(self, now: dt.datetime, first: int | None = None) -> list[Group]:
        """Provinces with programmes, in the order of their names, then OTHER; each with
        its ``first`` entries only, when given."""
        order = [province_id for province_id, _name in provinces.PROVINCES] + [OTHER]
        found = []
        for group_id in order:
            entries = self._by_group.get(group_id)
            if entries:
                found.append(self.group(group_id, now, first))
        return found

    def group(self, group_id: str, now: dt.datetime, first: int | None = None) -> Group:
        every = self._by_group.get(group_id, ())
        timestamp = now.timestamp()
        states = [entry.state_at(timestamp) for entry in every]
        return Group(group_id, group_name(group_id) or group_id,
                     tuple(_order(every, now, first)), states.count(RUNNING),
                     states.count(UPCOMING), len(every))

    def in_state(self, state: str, now: dt.datetime,
                 first: int | None = None) -> tuple[list[Entry], int]:
        """The ``first`` entries in ``state`` (all when None), and how many there are."""
        timestamp = now.timestamp()
        found = [entry for entry in self.entries if entry.state_at(timestamp) == state]
        return _order(found, now, first), len(found)

    def search(self, query: str, now: dt.datetime) -> list[Entry]:
        """Programmes whose title, organiser, county or province holds every word of
        ``query`` (see ``searchable``), in the order of ``groups``' entries."""
        terms = query_terms(query)
        if not terms:
            return []
        return _order((entry for entry in self.entries
                       if all(term in entry.text for term in terms)), now)

    def programmes_of(self, group_id: str) -> list[Programme]:
        """The programmes of a group, by id (the order of its feed)."""
        return sorted((entry.programme for entry in self._by_group.get(group_id, ())),
                      key=lambda programme: programme.id)


def _entry(programme: Programme) -> Entry:
    group = programme.province if programme.province in provinces.NAMES else OTHER
    words = [programme.title, programme.organiser, programme.county or "",
             provinces.NAMES.get(programme.province or "", ""), programme.id]
    start, end = programme.start(), programme.end()
    return Entry(programme, group, start, end, " ".join(searchable(word) for word in words),
                 start.timestamp(), end.timestamp())


class DirectoryCache:
    """The directory of the programmes served, made anew only when the list changes
    (thread-safe; entries of unchanged programmes are reused)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._made_from: object = None
        self._directory: Directory | None = None

    def of(self, programmes: Callable[[], list[Programme]], made_from: object) -> Directory:
        """The directory of ``programmes()``, asked for only when ``made_from`` (the
        registry's snapshot) is not what the kept directory was made from."""
        with self._lock:
            if self._directory is not None and self._made_from is made_from:
                return self._directory
            known = self._directory.known() if self._directory is not None else None
        directory = Directory(programmes(), known)
        with self._lock:
            self._made_from, self._directory = made_from, directory
        return directory
