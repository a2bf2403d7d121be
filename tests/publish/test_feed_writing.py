"""publish/ical_text.py writes feeds without building icalendar components: every feed
must still be, byte for byte, what icalendar writes for the same calendar. ``reference``
below is the feed built with icalendar's components as it was before, and each test
compares the two: the sample and every good test file, every edge of the times (DST gaps
and repeated hours, all-day, UTC and other zones), cancelled and changed occurrences, and
any text at all (escapes, line breaks, a byte-order mark, folding at every position)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from week_planner import revision_store
from week_planner.publish import feeds, ical_text
from week_planner.schedule.loading import load_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
PROGRAMMES = [ROOT / "schedules" / "khalilabad-1404.yaml",
              *sorted((DATA / "good").glob("*.yaml")), *sorted((DATA / "feeds").glob("*.yaml"))]
T0 = dt.datetime(2025, 8, 20, 6, 0, tzinfo=dt.timezone.utc)
BASE_URL = "https://hafte.example.ir"


# ---------------------------------------------------------------- icalendar's own bytes

def reference(info: feeds.FeedInfo, programme, entries, *, programme_id: str,
              base_url: str, current_phase: str, all_day_reminder_hour: int = 8) -> bytes:
    """The feed as icalendar's components write it."""
    entries = list(entries)
    calendar = icalendar.Calendar()
    calendar.add("prodid", feeds.PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", icalendar.vText(feeds.clean_text(info.name)))
    calendar.add("x-wr-calname", icalendar.vText(feeds.clean_text(info.name)))
    if info.description:
        description = feeds.clean_text(info.description.strip())
        calendar.add("description", icalendar.vText(description))
        calendar.add("x-wr-caldesc", icalendar.vText(description))
    calendar.add("x-wr-timezone", icalendar.vText(programme["timezone"]))
    refresh = feeds.REFRESH_INTERVALS[current_phase]
    calendar.add("refresh-interval", icalendar.vDuration(refresh),
                 parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(refresh))
    calendar.add("source", info.source_url)
    calendar.add("url", info.page_url)
    vevents = [_reference_vevent(entry, programme_id, base_url, all_day_reminder_hour)
               for entry in entries]
    used = {vevent[name].params["TZID"] for vevent in vevents
            for name in ("DTSTART", "DTEND") if "TZID" in vevent[name].params}
    for tzid, (first, last) in sorted(feeds._zone_years(entries).items()):
        if tzid in used:
            calendar.add_component(feeds.vtimezone(tzid, first, last))
    for vevent in vevents:
        calendar.add_component(vevent)
    return calendar.to_ical()


def _reference_vevent(entry, programme_id, base_url, hour):
    revision, snapshot = entry.revision, entry.revision.snapshot
    zone = ZoneInfo(snapshot["timezone"])
    event = icalendar.Event()
    event.add("uid", feeds.uid(programme_id, revision.occurrence_key))
    event.add("dtstamp", revision.modified_at)
    event.add("created", revision.created_at)
    event.add("last-modified", revision.modified_at)
    event.add("sequence", revision.sequence)
    title = feeds.clean_text(snapshot["title"])
    event.add("summary", feeds.CANCELLED_PREFIX + title if entry.cancelled else title)
    if snapshot["all_day"]:
        event.add("dtstart", dt.date.fromisoformat(snapshot["start"]))
        event.add("dtend", dt.date.fromisoformat(snapshot["end"]))
        event.add("transp", "TRANSPARENT")
    else:
        event.add("dtstart", feeds.written_time(snapshot["start"], zone))
        event.add("dtend", feeds.written_time(snapshot["end"], zone))
    page_url = feeds.event_page_url(base_url, programme_id, snapshot["event"])
    event.add("description", feeds.clean_text(
        feeds._description(snapshot, entry.cancelled, page_url)))
    venue = snapshot.get("venue")
    if venue:
        event.add("location", feeds.clean_text("، ".join(
            part for part in (venue["name"], venue["address"]) if part)))
        if venue.get("location"):
            event.add("geo", tuple(venue["location"]))
    event.add("url", page_url)
    event.add("categories", [feeds.clean_text(snapshot["category_label"])])
    event.add("class", "PUBLIC")
    event.add("status", "CANCELLED" if entry.cancelled else feeds.STATUS[snapshot["status"]])
    if not entry.cancelled:
        for seconds in snapshot["reminders"]:
            alarm = icalendar.Alarm()
            alarm.add("uid", f"{event['uid']}/alarm/{seconds}")
            alarm.add("action", "DISPLAY")
            alarm.add("description", title)
            offset = dt.timedelta(seconds=seconds)
            alarm.add("trigger", dt.timedelta(hours=hour) - offset if snapshot["all_day"]
                      else -offset)
            event.add_component(alarm)
    return event


def both(info, programme, entries, **keywords) -> tuple[bytes, bytes]:
    return (feeds.build_feed(info, programme, entries, **keywords),
            reference(info, programme, entries, **keywords))


# ----------------------------------------------------------------------------- files

def _entries(programme, sequence: int = 0, cancelled_every: int = 0) -> list[feeds.Entry]:
    snapshots = feeds.occurrence_snapshots(programme)
    entries = []
    for number, (key, snapshot) in enumerate(sorted(snapshots.items())):
        revision = revision_store.Revision(
                programme.id, key, snapshot["event"], sequence + number % 3,
                                  snapshot, False, T0, T0 + dt.timedelta(minutes=number))
        cancelled = bool(cancelled_every) and number % cancelled_every == 0
        entries.append(feeds.Entry(revision, cancelled or snapshot["status"] == "cancelled"))
    return entries


@pytest.mark.parametrize("path", PROGRAMMES, ids=lambda path: path.name)
@pytest.mark.parametrize("phase", ["before", "during", "after", "gone"])
def test_every_file_is_written_as_icalendar_writes_it(path, phase):
    programme = load_file(path).programme
    assert programme is not None
    snapshot = feeds.programme_snapshot(programme)
    info = feeds.FeedInfo(programme.title, feeds.calendar_description(snapshot),
                          f"{BASE_URL}/{programme.id}.ics", f"{BASE_URL}/{programme.id}/")
    for hour, cancelled_every in ((8, 0), (6, 2)):
        written, expected = both(
            info, snapshot, _entries(programme, sequence=hour, cancelled_every=cancelled_every),
            programme_id=programme.id, base_url=BASE_URL, current_phase=phase,
            all_day_reminder_hour=hour)
        assert written == expected


def test_a_national_week_is_written_as_icalendar_writes_it(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from national_data import write_national
    for programme_id in write_national(tmp_path, 30, 12)[::7]:
        programme = load_file(tmp_path / f"{programme_id}.yaml").programme
        snapshot = feeds.programme_snapshot(programme)
        info = feeds.FeedInfo(programme.title, feeds.calendar_description(snapshot),
                              f"{BASE_URL}/{programme.id}.ics", f"{BASE_URL}/{programme.id}/")
        written, expected = both(info, snapshot, _entries(programme, cancelled_every=5),
                                 programme_id=programme.id, base_url=BASE_URL,
                                 current_phase="before")
        assert written == expected


# --------------------------------------------------------------------- any text, zones

ANY_TEXT = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
    | st.sampled_from(["\u200c", "\ufeff", "\n", "\r\n", "\r", ";", ",", "\\", "\\N", "^",
                       ":", "\x00", "\x7f", "\nBEGIN:VEVENT\n", "ی", "😀", "a" * 70,
                       "ش" * 37, "\\" * 5]),
    min_size=0, max_size=14).map("".join)

ZONES = ["Asia/Tehran", "UTC", "Europe/London", "America/New_York", "Etc/GMT+3",
         "Australia/Lord_Howe", "Asia/Kabul"]


@st.composite
def snapshots(draw):
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = draw(st.datetimes(min_value=dt.datetime(2018, 1, 1),
                              max_value=dt.datetime(2027, 12, 31)))
    start = start.replace(second=0, microsecond=0, tzinfo=zone)
    end = start + dt.timedelta(minutes=draw(st.integers(0, 3000)))
    all_day = draw(st.booleans())
    location = draw(st.none() | st.tuples(
        st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))
        | st.tuples(st.integers(-90, 90), st.integers(-180, 180)))
    return {
        "event": draw(st.sampled_from(["e", "visit-2", "a_b"])),
        "title": draw(ANY_TEXT), "category": "c", "category_label": draw(ANY_TEXT),
        "timezone": zone.key, "all_day": all_day,
        "start": start.date().isoformat() if all_day else start.isoformat(),
        "end": (start.date() + dt.timedelta(days=1)).isoformat() if all_day
        else end.isoformat(),
        "venue": draw(st.none() | st.builds(
            lambda name, address: {"name": name, "address": address,
                                   "location": None if location is None else list(location)},
            ANY_TEXT, st.none() | ANY_TEXT)),
        "description": draw(st.none() | ANY_TEXT),
        "hosts": draw(st.lists(ANY_TEXT, max_size=2)),
        "status": draw(st.sampled_from(["scheduled", "tentative", "cancelled"])),
        "url": draw(st.none() | st.just("https://example.ir/a?b=1,2;c")),
        "reminders": draw(st.lists(st.integers(0, 10 * 86400), max_size=3, unique=True)),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=ANY_TEXT, description=st.none() | ANY_TEXT,
       found=st.lists(snapshots(), min_size=0, max_size=4), cancelled=st.lists(st.booleans()),
       sequence=st.integers(0, 10**6), phase=st.sampled_from(["before", "during", "after"]),
       programme_zone=st.sampled_from(ZONES))
def test_any_feed_is_written_as_icalendar_writes_it(title, description, found, cancelled,
                                                   sequence, phase, programme_zone):
    entries = []
    for number, snapshot in enumerate(found):
        key = f"{snapshot['event']}@{number}"
        revision = revision_store.Revision("p", key, snapshot["event"], sequence, snapshot,
                                  False, T0, T0 + dt.timedelta(seconds=sequence))
        entries.append(feeds.Entry(revision, cancelled[number % len(cancelled)]
                                   if cancelled else False))
    info = feeds.FeedInfo(title, description, "https://x/p.ics", "https://x/p/")
    written, expected = both(info, {"timezone": programme_zone}, entries, programme_id="p",
                             base_url="https://x", current_phase=phase)
    assert written == expected


@pytest.mark.parametrize("length", range(60, 160))
def test_folding_at_every_position(length):
    for filler in ("a", "ش", "😀", "a\\", "a^", "\\"):
        value = (filler * length)[:length]
        line = f"DESCRIPTION:{value}"
        assert ical_text.fold(line.encode("utf-8")) == \
            icalendar.parser.string._foldline(line).encode("utf-8")
