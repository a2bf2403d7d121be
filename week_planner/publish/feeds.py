"""Programme → iCalendar bytes.

Feeds are built from the stored revisions (``revision_store.Revision``), not from the model
directly, so that an occurrence removed from its file — or a whole deleted file — is still
published as ``STATUS:CANCELLED`` with a bumped ``SEQUENCE``. The model side is
``programme_snapshot`` and ``occurrence_snapshots``: the user-visible fields the store
records. ``build_feed(...)`` makes the bytes; it is pure, and ``now`` (which sets the time
phase and which cancelled occurrences are old enough to drop) is a parameter.

UIDs come from the programme id, the event id and, for repeated events, the occurrence's
date only. ``DTSTAMP`` and ``LAST-MODIFIED`` are the time of the occurrence's last change,
so a feed stays byte-for-byte the same until the programme or its time phase changes.

Times are written as local times with a ``TZID`` (``written_time``), and every ``TZID``
used gets a ``VTIMEZONE`` built here from the zone's real transitions over the years of
the events (``vtimezone``, cached per zone and years). icalendar's own
``Timezone.from_tzinfo`` output for Asia/Tehran lists its DST years as RDATEs that
vobject and ical.js ignore, so both read 1398 summer times an hour off; and its bounded
variant puts the spring DTSTART in the new offset instead of the old one. Two kinds of
instant are not written as they were typed: one inside a DST gap (00:30 on the night the
clocks jumped to 01:00) is written as the real wall time of that instant, and one whose
wall time occurs twice (23:15 on the night the clocks went back) is written in UTC.

Feeds carry no ``METHOD``: it belongs to iTIP scheduling messages (RFC 5546), where
``PUBLISH`` needs an ``ORGANIZER``; a subscribed or downloaded calendar is not one.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

from week_planner.publish import ical_text
from week_planner.schedule import jalali
from week_planner.schedule.model import Event, Occurrence, Programme, description_text

PRODID = "-//week-planner//Cooperative Week programme//FA"
UID_DOMAIN = "week-planner"
CANCELLED_PREFIX = "لغو شد: "
MY_PROGRAMME_NAME = "برنامهٔ من"

# How often clients should fetch the feed in each time phase of the programme.
REFRESH_INTERVALS = {
    "before": dt.timedelta(hours=6),
    "during": dt.timedelta(hours=1),
    "after": dt.timedelta(days=1),
    "gone": dt.timedelta(days=1),
}

STATUS = {"scheduled": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}


# ----------------------------------------------------------------- model → snapshots

def programme_snapshot(programme: Programme) -> dict[str, Any]:
    """The programme's own fields that feeds show, as the store keeps them."""
    return {
        "id": programme.id,
        "title": programme.title,
        "organiser": programme.organiser,
        "description": programme.description,
        "timezone": programme.timezone,
        "first_day": programme.first_day.isoformat(),
        "last_day": programme.last_day.isoformat(),
        "start": programme.start().isoformat(),
        "end": programme.end().isoformat(),
        "categories": {c.id: c.label for c in programme.categories.values()},
    }


def occurrence_snapshots(programme: Programme) -> dict[str, dict[str, Any]]:
    """``occurrence key → the user-visible fields of that occurrence``."""
    return {occurrence.key: occurrence_snapshot(programme, event, occurrence)
            for event in programme.events for occurrence in event.occurrences}


def occurrence_snapshot(programme: Programme, event: Event,
                        occurrence: Occurrence) -> dict[str, Any]:
    """The occurrence as the store keeps it. A timed start and end are the instant in
    the programme's zone, with the offset in force then: a wall time typed inside a DST
    gap is stored as the real time of its instant (00:30 → 01:30+04:30), whether or not
    the model has already normalised it, so the stored text never changes for it."""
    venue = event.venue
    zone = ZoneInfo(programme.timezone)
    return {
        "event": event.id,
        "title": event.title,
        "category": event.category.id,
        "category_label": event.category.label,
        "timezone": programme.timezone,
        "all_day": occurrence.all_day,
        "start": (occurrence.day.isoformat() if occurrence.all_day
                  else real_time(occurrence.start, zone).isoformat()),
        "end": (occurrence.end.date().isoformat() if occurrence.all_day
                else real_time(occurrence.end, zone).isoformat()),
        "venue": None if venue is None else {
            "name": venue.name, "address": venue.address,
            "location": None if venue.location is None else list(venue.location)},
        "description": event.description,
        "hosts": list(event.hosts),
        "status": event.status,
        "url": event.url,
        "reminders": [int(offset.total_seconds()) for offset in event.reminders],
    }


def real_time(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """``moment``'s instant as the clocks of ``zone`` showed it: a wall time inside a DST
    gap (which Python reads with the offset before the jump) becomes the time that really
    followed it. Goes through UTC: ``astimezone`` to a datetime's own zone changes nothing."""
    return moment.astimezone(dt.timezone.utc).astimezone(zone)


def uid(programme_id: str, occurrence_key: str) -> str:
    """``<programme>/<event>[/<date>]@week-planner``: never changes for an occurrence."""
    return f"{programme_id}/{occurrence_key.replace('@', '/')}@{UID_DOMAIN}"


# ------------------------------------------------------------------------- selecting

@dataclass(frozen=True)
class Selection:
    """Which occurrences a feed holds: all, one category's, or some events'."""

    category: str | None = None
    events: frozenset[str] | None = None

    def takes(self, revision) -> bool | None:
        """True: publish as it is; False: publish as cancelled; None: leave out."""
        if self.events is not None and revision.event_id not in self.events:
            return None
        if self.category is not None:
            if revision.snapshot.get("category") == self.category:
                return True
            # Moved to another category: this feed's subscribers must see it go.
            if self.category in revision.past_categories:
                return False
            return None
        return True


@dataclass(frozen=True)
class Entry:
    revision: Any  # revision_store.Revision
    cancelled: bool


def _cancelled_in(revision, selection: Selection) -> bool | None:
    """None: not in this feed; else whether the feed shows it as cancelled."""
    taken = selection.takes(revision)
    if taken is None:
        return None
    return not taken or revision.removed or revision.snapshot.get("status") == "cancelled"


def select_entries(revisions: Iterable, selection: Selection, now: dt.datetime,
                   retention: dt.timedelta) -> list[Entry]:
    """The occurrences a feed publishes at ``now``; cancelled ones only within
    ``retention`` of their cancellation."""
    entries = []
    for revision in revisions:
        cancelled = _cancelled_in(revision, selection)
        if cancelled is None or (cancelled and now >= revision.modified_at + retention):
            continue
        entries.append(Entry(revision, cancelled))
    return sorted(entries, key=lambda e: (_start_instant(e.revision.snapshot),
                                          e.revision.occurrence_key))


def expired_since(revisions: Iterable, selection: Selection, now: dt.datetime,
                  retention: dt.timedelta) -> dt.datetime | None:
    """When the latest cancelled occurrence dropped out of the feed (it changed then)."""
    return max((revision.modified_at + retention for revision in revisions
                if _cancelled_in(revision, selection)
                and now >= revision.modified_at + retention), default=None)


def calendar_description(programme: Mapping[str, Any]) -> str:
    """The organiser and the week's Jalali dates, then the programme's own description."""
    first = dt.date.fromisoformat(programme["first_day"])
    last = dt.date.fromisoformat(programme["last_day"])
    text = f"{programme['organiser']}، {jalali.format_date_range(first, last)}"
    if programme.get("description"):
        text += "\n\n" + description_text(programme["description"])
    return text


def phase(programme: Mapping[str, Any], now: dt.datetime, gone: bool = False) -> str:
    """``before``, ``during`` or ``after`` the week (``gone`` for a deleted file)."""
    if gone:
        return "gone"
    if now < dt.datetime.fromisoformat(programme["start"]):
        return "before"
    if now >= dt.datetime.fromisoformat(programme["end"]):
        return "after"
    return "during"


def phase_began(programme: Mapping[str, Any], current_phase: str) -> dt.datetime | None:
    if current_phase == "during":
        return dt.datetime.fromisoformat(programme["start"])
    if current_phase == "after":
        return dt.datetime.fromisoformat(programme["end"])
    return None


# -------------------------------------------------------------------------- building

@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself."""

    name: str
    description: str | None
    source_url: str  # the feed's own address
    page_url: str  # the page it belongs to


def calendar_properties(info: FeedInfo, current_phase: str,
                        timezone: str | None) -> list[ical_text.Property]:
    """The VCALENDAR's own properties: what the feed says about itself, how often to fetch
    it in ``current_phase``, and its ``timezone`` (None: a feed of several programmes)."""
    name = ical_text.text(clean_text(info.name))
    refresh = ical_text.duration(REFRESH_INTERVALS[current_phase])
    # No METHOD: see the module docstring.
    properties = [("PRODID", "", ical_text.text(PRODID)), ("VERSION", "", "2.0"),
                  ("CALSCALE", "", "GREGORIAN"), ("NAME", "", name),
                  ("X-WR-CALNAME", "", name),
                  ("REFRESH-INTERVAL", "VALUE=DURATION", refresh),
                  ("X-PUBLISHED-TTL", "", refresh),
                  ("SOURCE", "", info.source_url), ("URL", "", info.page_url)]
    if timezone is not None:
        properties.append(("X-WR-TIMEZONE", "", ical_text.text(timezone)))
    if info.description:
        description = ical_text.text(clean_text(info.description.strip()))
        properties += [("DESCRIPTION", "", description), ("X-WR-CALDESC", "", description)]
    return properties


def build_feed(info: FeedInfo, programme: Mapping[str, Any], entries: Iterable[Entry], *,
               programme_id: str, base_url: str, current_phase: str,
               all_day_reminder_hour: int = 8) -> bytes:
    """The iCalendar bytes of a feed (``programme`` is a ``programme_snapshot``)."""
    entries = list(entries)
    properties = calendar_properties(info, current_phase, programme["timezone"])
    used: set[str] = set()  # the TZIDs written (a UTC time has "Z" and needs none)
    vevents = [_vevent(entry, programme_id, base_url, all_day_reminder_hour, used)
               for entry in entries]
    timezones = [vtimezone_bytes(tzid, first, last)
                 for tzid, (first, last) in sorted(_zone_years(entries).items())
                 if tzid in used]
    return ical_text.component("VCALENDAR", properties, timezones + vevents)


def _zone_years(entries: list[Entry]) -> dict[str, tuple]:
    years: dict[str, tuple[int, int]] = {}
    for entry in entries:
        snapshot = entry.revision.snapshot
        if snapshot["all_day"]:
            continue
        tzid = snapshot["timezone"]
        zone = ZoneInfo(tzid)
        for key in ("start", "end"):
            year = dt.datetime.fromisoformat(snapshot[key]).astimezone(zone).year
            first, last = years.get(tzid, (year, year))
            years[tzid] = (min(first, year), max(last, year))
    return years


def _start_instant(snapshot: Mapping[str, Any]) -> dt.datetime:
    if snapshot["all_day"]:
        return dt.datetime.combine(dt.date.fromisoformat(snapshot["start"]), dt.time(),
                                   ZoneInfo(snapshot["timezone"]))
    return dt.datetime.fromisoformat(snapshot["start"])


def _vevent(entry: Entry, programme_id: str, base_url: str, all_day_reminder_hour: int,
            used: set[str]) -> bytes:
    """The VEVENT's bytes; the TZIDs its times are written with are added to ``used``."""
    revision, snapshot = entry.revision, entry.revision.snapshot
    event_uid = uid(programme_id, revision.occurrence_key)
    title = clean_text(snapshot["title"])
    modified = _utc_moment(revision.modified_at.astimezone(dt.timezone.utc))
    properties = [
        ("UID", "", ical_text.text(event_uid)), ("DTSTAMP", *modified),
        ("CREATED", *_utc_moment(revision.created_at.astimezone(dt.timezone.utc))),
        ("LAST-MODIFIED", *modified), ("SEQUENCE", "", str(int(revision.sequence))),
        ("SUMMARY", "", ical_text.text(CANCELLED_PREFIX + title if entry.cancelled
                                       else title))]
    if snapshot["all_day"]:
        properties += [("DTSTART", *ical_text.date(dt.date.fromisoformat(snapshot["start"]))),
                       ("DTEND", *ical_text.date(dt.date.fromisoformat(snapshot["end"]))),
                       ("TRANSP", "", "TRANSPARENT")]  # an all-day desk does not fill the day
    else:
        for name in ("start", "end"):
            parameters, value, tzid = _written_moment(snapshot[name], snapshot["timezone"])
            properties.append(("DT" + name.upper(), parameters, value))
            if tzid is not None:
                used.add(tzid)
    page_url = event_page_url(base_url, programme_id, snapshot["event"])
    properties.append(("DESCRIPTION", "", ical_text.text(clean_text(
        _description(snapshot, entry.cancelled, page_url)))))
    venue = snapshot.get("venue")
    if venue:
        properties.append(("LOCATION", "", ical_text.text(clean_text("، ".join(
            part for part in (venue["name"], venue["address"]) if part)))))
        if venue.get("location"):
            properties.append(("GEO", "", ical_text.geo(*venue["location"])))
    properties += [
        ("URL", "", page_url),
        ("CATEGORIES", "", ical_text.text_list([clean_text(snapshot["category_label"])])),
        ("CLASS", "", "PUBLIC"),
        ("STATUS", "", "CANCELLED" if entry.cancelled else STATUS[snapshot["status"]])]
    alarms = [] if entry.cancelled else [
        _alarm(event_uid, title, seconds, snapshot["all_day"], all_day_reminder_hour)
        for seconds in snapshot["reminders"]]
    return ical_text.component("VEVENT", properties, alarms)


# A week's events share a few days and hours, and every occurrence recorded at one moment
# shares its LAST-MODIFIED: each is written once (a fifth of building a feed).
@functools.lru_cache(maxsize=4096)
def _utc_moment(moment: dt.datetime) -> tuple[str, str]:
    return ical_text.moment(moment)


@functools.lru_cache(maxsize=4096)
def _written_moment(stored: str, tzid: str) -> tuple[str, str, str | None]:
    """(parameters, value, TZID written or None) of a stored start or end."""
    moment = written_time(stored, ZoneInfo(tzid))
    return (*ical_text.moment(moment), ical_text.zone_id(moment))


def written_time(stored: str, zone: ZoneInfo) -> dt.datetime:
    """The stored instant as the feed writes it: the local time in ``zone`` (a real wall
    time, never one inside a DST gap), or UTC when that wall time occurs twice.

    RFC 5545 (§3.3.5) reads a repeated wall time as its first occurrence, as Python's
    ``fold=0`` does, but ical.js, node-ical and libical read the second, an hour later;
    in UTC every reader finds the same instant. Every other time keeps its ``TZID``, so
    calendar apps still show the event in the programme's zone.
    """
    local = real_time(dt.datetime.fromisoformat(stored), zone)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return local.astimezone(dt.timezone.utc)
    return local


def _alarm(event_uid: str, title: str, seconds: int, all_day: bool, hour: int) -> bytes:
    offset = dt.timedelta(seconds=seconds)
    # An all-day event's reminders count from ALL_DAY_REMINDER_HOUR of its day.
    trigger = dt.timedelta(hours=hour) - offset if all_day else -offset
    return ical_text.component("VALARM", [
        # RFC 9074: one alarm, not copies
        ("UID", "", ical_text.text(f"{event_uid}/alarm/{seconds}")),
        ("ACTION", "", "DISPLAY"), ("DESCRIPTION", "", ical_text.text(title)),
        ("TRIGGER", "", ical_text.duration(trigger))])


# C0 controls other than tab and line breaks, and DEL, may not appear in iCalendar text.
_CONTROLS = dict.fromkeys([code for code in range(32) if code not in (9, 10, 13)] + [127])


_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text safe to write: no control characters, no lone surrogates."""
    if _CONTROL_RE.search(text) is None:  # nearly always: nothing to take out
        return text
    return text.translate(_CONTROLS).encode("utf-8", "replace").decode("utf-8")


def event_page_url(base_url: str, programme_id: str, event_id: str) -> str:
    return f"{base_url.rstrip('/')}/{programme_id}/events/{event_id}/"


def when_text(snapshot: Mapping[str, Any]) -> str:
    """«سه‌شنبه ۱۱ شهریور ۱۴۰۴، ساعت ۰۸:۰۰ تا ۰۹:۰۰»: calendar apps show Gregorian dates."""
    return _when(snapshot["all_day"], snapshot["start"], snapshot["end"],
                 snapshot["timezone"])


@functools.lru_cache(maxsize=4096)
def _when(all_day: bool, stored_start: str, stored_end: str, tzid: str) -> str:
    if all_day:
        day = dt.date.fromisoformat(stored_start)
        return f"{jalali.format_date(day, weekday=True)}، تمام روز"
    zone = ZoneInfo(tzid)
    start = dt.datetime.fromisoformat(stored_start).astimezone(zone)
    end = dt.datetime.fromisoformat(stored_end).astimezone(zone)
    text = f"{jalali.format_date(start.date(), weekday=True)}، ساعت "
    end_day = jalali.later_end_day(start, end)
    if end_day:
        return (f"{text}{jalali.format_time(start)} تا "
                f"{jalali.format_date(end_day, weekday=True)}، ساعت {jalali.format_time(end)}")
    return text + jalali.format_time_range(start, end)


def _description(snapshot: Mapping[str, Any], cancelled: bool, page_url: str) -> str:
    lines = []
    if cancelled:
        lines.append("این برنامه لغو شد.")
    lines.append(when_text(snapshot))
    if snapshot.get("description"):
        lines += ["", description_text(snapshot["description"])]
    if snapshot.get("hosts"):
        lines += ["", "با حضور: " + "، ".join(snapshot["hosts"])]
    venue = snapshot.get("venue")
    if venue:
        lines.append("مکان: " + "، ".join(p for p in (venue["name"], venue["address"]) if p))
    if snapshot.get("url"):
        lines.append(snapshot["url"])
    lines += ["", page_url]
    return "\n".join(lines)


# -------------------------------------------------------------------------- timezones

@functools.lru_cache(maxsize=64)
def vtimezone_bytes(tzid: str, first_year: int, last_year: int) -> bytes:
    """``vtimezone`` written out, once per zone and years."""
    return vtimezone(tzid, first_year, last_year).to_ical()


@functools.lru_cache(maxsize=64)
def vtimezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE for ``tzid`` from 1 January of ``first_year`` to the end of
    ``last_year``: the offset in force at the start, then one sub-component per real
    transition, each ``DTSTART`` the local time before it (RFC 5545 §3.6.5).

    Built once per zone and years; do not modify the returned component.
    """
    zone = ZoneInfo(tzid)
    start = dt.datetime(first_year, 1, 1, tzinfo=zone).astimezone(dt.timezone.utc)
    stop = dt.datetime(last_year + 1, 1, 1, tzinfo=zone).astimezone(dt.timezone.utc)
    component = Timezone()
    component.add("tzid", tzid)

    state = _zone_state(zone, start)
    component.add_component(_observance(state, state, start.astimezone(zone)
                                        .replace(tzinfo=None)))
    for moment in _transitions(zone, start, stop):
        new = _zone_state(zone, moment)
        local_before = (moment + state[0]).replace(tzinfo=None)
        component.add_component(_observance(state, new, local_before))
        state = new
    return component


def _zone_state(zone: ZoneInfo, moment: dt.datetime) -> tuple:
    local = moment.astimezone(zone)
    return (local.utcoffset(), bool(local.dst()), local.tzname())


def _transitions(zone: ZoneInfo, start: dt.datetime, stop: dt.datetime):
    """The UTC instants (to the second) at which the zone's offset, DST flag or name
    changes, found by stepping six hours at a time and bisecting each change."""
    step = dt.timedelta(hours=6)
    moment, state = start, _zone_state(zone, start)
    while moment < stop:
        following = min(moment + step, stop)
        new = _zone_state(zone, following)
        if new != state:
            low, high = moment, following  # state at low, new at high
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    middle = low + dt.timedelta(seconds=1)
                if _zone_state(zone, middle) == state:
                    low = middle
                else:
                    high = middle
            yield high
            state = _zone_state(zone, high)
            moment = high
            continue
        moment = following


def _observance(before: tuple, after: tuple, local_start: dt.datetime):
    observance = TimezoneDaylight() if after[1] else TimezoneStandard()
    observance.add("dtstart", local_start)
    observance.add("tzoffsetfrom", before[0])
    observance.add("tzoffsetto", after[0])
    if after[2]:
        observance.add("tzname", after[2])
    return observance
