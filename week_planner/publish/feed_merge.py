"""Feeds of many programmes (a province, the whole country) made from the programmes' own
feeds: their events as they are, under a header of the merged feed's own.

Each programme's feed is built by publish/feed_service.py; merging takes the ``VEVENT``
blocks out of its bytes (``events_of``, kept per programme in ``Parts``) and writes them
after one ``VTIMEZONE`` per zone covering every programme's years. Event UIDs hold
the programme id, so the events of two programmes never collide.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

import icalendar
from icalendar import Calendar

from week_planner.publish import feeds

_BEGIN, _END = b"BEGIN:VEVENT\r\n", b"END:VEVENT\r\n"


def events_of(body: bytes) -> bytes:
    """The ``VEVENT`` blocks of a feed this service wrote, as they are, one after another."""
    first = body.find(_BEGIN)
    if first < 0:
        return b""
    last = body.rfind(_END)
    return body[first:last + len(_END)]


@dataclass(frozen=True)
class Member:
    """One programme's part of a merged feed."""

    programme_id: str
    timezone: str
    years: tuple[int, int]  # the first and last year its events can fall in
    phase: str  # feeds.phase of the programme
    events: bytes  # its VEVENT blocks


def merged_phase(phases: Iterable[str]) -> str:
    """The phase that sets a merged feed's refresh interval: the most lively one."""
    found = set(phases)
    for phase in ("during", "before", "after"):
        if phase in found:
            return phase
    return "after"


def merge(info: feeds.FeedInfo, members: list[Member]) -> bytes:
    """A calendar with ``info``'s header and every member's events."""
    calendar = Calendar()
    calendar.add("prodid", feeds.PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", icalendar.vText(feeds.clean_text(info.name)))
    calendar.add("x-wr-calname", icalendar.vText(feeds.clean_text(info.name)))
    if info.description:
        description = feeds.clean_text(info.description)
        calendar.add("description", icalendar.vText(description))
        calendar.add("x-wr-caldesc", icalendar.vText(description))
    refresh = feeds.REFRESH_INTERVALS[merged_phase(member.phase for member in members)]
    calendar.add("refresh-interval", icalendar.vDuration(refresh),
                 parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(refresh))
    calendar.add("source", info.source_url)
    calendar.add("url", info.page_url)
    years: dict[str, tuple[int, int]] = {}
    for member in members:
        if member.events:
            first, last = years.get(member.timezone, member.years)
            years[member.timezone] = (min(first, member.years[0]),
                                      max(last, member.years[1]))
    for tzid, (first, last) in sorted(years.items()):
        calendar.add_component(feeds.vtimezone(tzid, first, last))
    head = calendar.to_ical()
    end = head.rindex(b"END:VCALENDAR")
    return b"".join([head[:end], *(member.events for member in members), head[end:]])


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
