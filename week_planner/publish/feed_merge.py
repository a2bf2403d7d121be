"""Feeds of many programmes (a province, the whole country) made from the programmes' own
feeds: their events as they are, under a header of the merged feed's own.

Each programme's feed is built by publish/feed_service.py; merging takes the ``VEVENT``
blocks out of its bytes (``events_of``, kept per programme in ``Parts``) and writes them
after one ``VTIMEZONE`` per zone covering every programme's years. Event UIDs hold
the programme id, so the events of two programmes never collide.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

from week_planner.publish import feeds, ical_text

# Whole lines: a folded line goes on with a space, so text that happens to read
# "BEGIN:VEVENT" (a title, a description) never starts a line.
_BEGIN, _END = b"\r\nBEGIN:VEVENT\r\n", b"\r\nEND:VEVENT\r\n"
# A property of an event written in a zone: its TZID and the year of its value.
_ZONED = re.compile(rb"^[A-Z-]+;(?:[^:\r\n]*;)?TZID=([^;:\r\n]+)[^:\r\n]*:(\d{4})",
                    re.MULTILINE)


def events_of(body: bytes) -> bytes:
    """The ``VEVENT`` blocks of a feed this service wrote, as they are, one after another."""
    first = body.find(_BEGIN)
    if first < 0:
        return b""
    last = body.rfind(_END)
    return body[first + 2:last + len(_END)]


def zone_years(events: bytes) -> dict[str, tuple[int, int]]:
    """Each zone the events are written in, with the first and last year of their times
    (events kept as cancelled may be in a zone or year the programme no longer uses)."""
    years: dict[str, tuple[int, int]] = {}
    for match in _ZONED.finditer(events):
        year = int(match.group(2))
        _widen(years, match.group(1).decode("utf-8"), year, year)
    return years


def _widen(years: dict[str, tuple[int, int]], tzid: str, first: int, last: int) -> None:
    """``years[tzid]`` stretched to cover ``first`` to ``last``."""
    known = years.get(tzid, (first, last))
    years[tzid] = (min(known[0], first), max(known[1], last))


@dataclass(frozen=True)
class Member:
    """One programme's part of a merged feed."""

    programme_id: str
    phase: str  # feeds.phase of the programme
    events: bytes  # its VEVENT blocks
    zones: dict[str, tuple[int, int]]  # zone_years of its events
    last_modified: dt.datetime  # its feed's Last-Modified


def merged_phase(phases: Iterable[str]) -> str:
    """The phase that sets a merged feed's refresh interval: the most lively one."""
    found = set(phases)
    for phase in ("during", "before", "after"):
        if phase in found:
            return phase
    return "after"


def merge(info: feeds.FeedInfo, members: list[Member]) -> bytes:
    """A calendar with ``info``'s header and every member's events."""
    phase = merged_phase(member.phase for member in members)
    years: dict[str, tuple[int, int]] = {}
    for member in members:
        for tzid, (first, last) in member.zones.items():
            _widen(years, tzid, first, last)
    timezones = [feeds.vtimezone_bytes(tzid, first, last)
                 for tzid, (first, last) in sorted(years.items())]
    return ical_text.component("VCALENDAR", feeds.calendar_properties(info, phase, None),
                               timezones + [member.events for member in members])


class Parts:
    """Each programme's ``Member`` as last made, kept while the programme's stored
    revisions (their token) stay as they are and the time has not reached the moment its
    feed could change: a merged feed made again after one county's edit builds one
    programme's feed, not every one."""

    def __init__(self):
        self._lock = threading.Lock()
        self._parts: dict[str, tuple[object, dt.datetime, dt.datetime | None, Member]] = {}

    def member(self, programme_id: str, token: object, now: dt.datetime,
               make: Callable[[], tuple[Member, dt.datetime | None]]) -> Member:
        """The member kept for ``token`` at ``now``, else ``make()``'s (a member and the
        first moment its feed can change)."""
        with self._lock:
            found = self._parts.get(programme_id)
        if found is not None and found[0] == token and found[1] <= now and \
                (found[2] is None or now < found[2]):
            return found[3]
        member, until = make()
        with self._lock:
            self._parts[programme_id] = (token, now, until, member)
        return member

    def untils(self, programme_ids) -> list[dt.datetime | None]:
        """When the kept members of ``programme_ids`` can next change."""
        with self._lock:
            return [found[2] for found in map(self._parts.get, programme_ids) if found]

    def forget_except(self, programme_ids: set[str]) -> None:
        """Drop the parts of programmes no longer served."""
        with self._lock:
            for programme_id in set(self._parts) - programme_ids:
                del self._parts[programme_id]
