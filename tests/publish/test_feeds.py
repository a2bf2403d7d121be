"""The iCalendar feeds: what they contain, that independent parsers read them alike, that
changes reach clients (SEQUENCE, LAST-MODIFIED, CANCELLED), their bytes and their HTTP.

Independent readers (``calendar_readers``): ical.js through node, vobject,
recurring-ical-events, icalendar and, where Debian's libical3 is installed, libical.
icalendar and recurring-ical-events resolve a known TZID from zoneinfo, so ical.js, vobject
and libical are the ones that test our VTIMEZONE; a deliberately broken VTIMEZONE must make
them disagree. Times that are ambiguous or inside a DST gap: ``test_feed_edge_times.py``.

Golden files: ``tests/golden/*.ics``, normalised (unfolded, properties sorted within each
component); rewrite them with ``WEEK_PLANNER_UPDATE_GOLDEN=1 pytest tests/publish/test_feeds.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import icalendar
import lxml.html
import pytest
from calendar_readers import disagreements, expected_events, read_with_icaljs

from week_planner import create_app, revision_store, store
from week_planner.publish import feeds
from week_planner.publish.feed_service import feed_service
from week_planner.schedule.loading import load_file
from week_planner.schedule.model import description_text
from week_planner.tokens import make_my_token

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
DST_FILES = [DATA / "dst-1398-shahrivar.yaml", DATA / "dst-1398-farvardin.yaml"]
UTC = dt.timezone.utc
TEHRAN = ZoneInfo("Asia/Tehran")
BASE_URL = "https://hafte.example.ir"

# Before the sample's week (1404-06-11 = 2 September 2025).
T0 = dt.datetime(2025, 8, 20, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def make_app(tmp_path: Path, schedules: Path, clock: Clock, **extra):
    return create_app({
        "TESTING": True,
        "SCHEDULES_DIR": str(schedules),
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "RELOAD_INTERVAL": 0,
        "BASE_URL": BASE_URL,
        "SECRET_KEY": "a-test-secret-key-of-some-length",
        "CLOCK": clock,
        **extra,
    })


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A schedules folder with the sample and the two programmes of a DST year."""
    found = tmp_path / "schedules"
    found.mkdir()
    for path in [SAMPLE, *DST_FILES]:
        shutil.copy(path, found / path.name)
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def feed_app(tmp_path, folder, clock):
    return make_app(tmp_path, folder, clock)


@pytest.fixture
def feed_client(feed_app):
    return feed_app.test_client()


def get_ok(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.data


def feed_urls(programme, token: str) -> dict[str, str]:
    """Every feed address of a programme: whole, each category, each event, a personal one."""
    urls = {"whole": f"/{programme.id}.ics"}
    for category in programme.categories:
        urls[f"category-{category}"] = f"/{programme.id}/categories/{category}.ics"
    for event in programme.events:
        urls[f"event-{event.id}"] = f"/{programme.id}/events/{event.id}.ics"
    urls["my"] = f"/{programme.id}/my/{token}.ics"
    return urls


def occurrence_keys_of(programme, selection_events=None, category=None) -> set[str]:
    return {occurrence.key for event in programme.events
            if (selection_events is None or event.id in selection_events)
            and (category is None or event.category.id == category)
            for occurrence in event.occurrences}


def write_all_feeds(app, client, tmp_path: Path) -> dict[Path, list[tuple]]:
    """Fetch every feed of every programme into files; with what each must hold."""
    files = {}
    out = tmp_path / "feeds"
    out.mkdir(exist_ok=True)
    for programme in app.extensions["week_planner.registry"].programmes():
        some_events = [event.id for event in programme.events][::2]
        token = make_my_token(app, programme.id, some_events)
        revisions = revision_store.load_revisions(store.app_engine(app), programme.id) \
            if feed_service(app).stored(programme.id) else None
        for name, url in feed_urls(programme, token).items():
            path = out / f"{programme.id}--{name}.ics"
            path.write_bytes(get_ok(client, url))
            if name.startswith("category-"):
                keys = occurrence_keys_of(programme, category=name[len("category-"):])
            elif name.startswith("event-"):
                keys = occurrence_keys_of(programme, {name[len("event-"):]})
            elif name == "my":
                keys = occurrence_keys_of(programme, set(some_events))
            else:
                keys = None
            files[path] = expected_events(programme, revisions, keys)
    return files


# -------------------------------------------------------------- parsers must agree

def test_every_reader_agrees_on_every_feed_to_the_second(feed_app, feed_client, tmp_path):
    files = write_all_feeds(feed_app, feed_client, tmp_path)
    assert len(files) > 30
    assert all(expected for expected in files.values())
    assert disagreements(files) == []


def test_readers_agree_after_changes_and_removals(tmp_path, folder):
    """SEQUENCE above 0 and STATUS:CANCELLED, for removed occurrences too."""
    clock = Clock(T0)
    app = make_app(tmp_path, folder, clock)
    client = app.test_client()
    get_ok(client, "/dst-1398-shahrivar.ics")
    original = load_file(folder / "dst-1398-shahrivar.yaml").programme
    path = folder / "dst-1398-shahrivar.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("dates: [1398-06-29, 1398-06-30, 1398-07-01]",
                        "dates: [1398-06-29, 1398-07-01]")  # one visit dropped
    text = text.replace('    start: "21:30"\n    end: "22:45"\n',
                        '    start: "21:00"\n    end: "22:45"\n')  # moved
    text = text.replace("    venue: meydan\n", "    venue: meydan\n    status: cancelled\n")
    path.write_text(text, encoding="utf-8")
    clock.now = T0 + dt.timedelta(hours=1)
    out = tmp_path / "changed.ics"
    out.write_bytes(get_ok(client, "/dst-1398-shahrivar.ics"))

    programme = app.extensions["week_planner.registry"].get("dst-1398-shahrivar")
    revisions = revision_store.load_revisions(store.app_engine(app), programme.id)
    expected = expected_events(programme, revisions)
    removed = [occ for occ in original.occurrences()
               if occ.key == "peoples-visits@2019-09-21"]
    assert len(removed) == 1
    expected.append((feeds.uid(programme.id, removed[0].key), "CANCELLED", 1,
                     ("utc", int(removed[0].start.timestamp())),
                     ("utc", int(removed[0].end.timestamp()))))
    expected.sort()
    sequences = {e[0].split("/")[1].split("@")[0]: (e[1], e[2]) for e in expected}
    assert sequences["last-summer-evening"] == ("CONFIRMED", 1)
    assert sequences["taxi-parade"] == ("CANCELLED", 1)
    assert sequences["martyrs-tribute"] == ("CONFIRMED", 0)
    assert disagreements({out: expected}) == []


def test_dst_year_times_are_the_real_instants(feed_client):
    """Spelled out for 1398: summer events at +04:30, the rest at +03:30."""
    data = get_ok(feed_client, "/dst-1398-shahrivar.ics")
    calendar = icalendar.Calendar.from_ical(data)
    starts = {str(e["UID"]): e.decoded("DTSTART") for e in calendar.walk("VEVENT")}
    evening = starts["dst-1398-shahrivar/last-summer-evening@week-planner"]
    after = starts["dst-1398-shahrivar/after-the-change@week-planner"]
    assert evening.astimezone(UTC) == dt.datetime(2019, 9, 21, 17, 0, tzinfo=UTC)
    assert after.astimezone(UTC) == dt.datetime(2019, 9, 21, 21, 0, tzinfo=UTC)
    js = read_with_icaljs_bytes(data)
    assert ("dst-1398-shahrivar/last-summer-evening@week-planner",
            int(dt.datetime(2019, 9, 21, 17, 0, tzinfo=UTC).timestamp())) in js


def read_with_icaljs_bytes(data: bytes) -> set[tuple]:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"week-planner-{os.getpid()}.ics"
    path.write_bytes(data)
    try:
        return {(e[0], e[3][1]) for e in read_with_icaljs([path])[str(path)]}
    finally:
        path.unlink()


def _replace_vtimezone(data: bytes, replacement: bytes) -> bytes:
    broken, count = re.subn(rb"BEGIN:VTIMEZONE\r\n.*?END:VTIMEZONE\r\n", replacement, data,
                            flags=re.S)
    assert count == 1
    return broken


def _dst_feed_files(feed_app, feed_client, tmp_path, transform) -> dict[Path, list[tuple]]:
    programme = feed_app.extensions["week_planner.registry"].get("dst-1398-shahrivar")
    revisions = revision_store.load_revisions(store.app_engine(feed_app), programme.id) \
        if feed_service(feed_app).stored(programme.id) else None
    path = tmp_path / "dst.ics"
    path.write_bytes(transform(get_ok(feed_client, f"/{programme.id}.ics")))
    return {path: expected_events(programme, revisions)}


def test_a_broken_vtimezone_makes_the_readers_disagree(feed_app, feed_client, tmp_path):
    """The check above really reads our VTIMEZONE: keep its daylight observances but give
    them standard time's offset, and ical.js and vobject must both see wrong instants."""
    def break_daylight(data: bytes) -> bytes:
        block = re.search(rb"BEGIN:VTIMEZONE\r\n.*?END:VTIMEZONE\r\n", data, re.S).group(0)
        assert b"BEGIN:DAYLIGHT" in block
        broken = re.sub(rb"(BEGIN:DAYLIGHT\r\n(?:(?!END:DAYLIGHT).)*?TZOFFSETTO:)\+0430",
                        rb"\1+0330", block, flags=re.S)
        broken = broken.replace(b"TZOFFSETFROM:+0430", b"TZOFFSETFROM:+0330")
        assert broken != block
        return _replace_vtimezone(data, broken)

    files = _dst_feed_files(feed_app, feed_client, tmp_path, lambda data: data)
    assert disagreements(files) == []
    broken = _dst_feed_files(feed_app, feed_client, tmp_path, break_daylight)
    found = disagreements(broken)
    assert any(line.startswith("ical.js ") for line in found), found
    assert any(line.startswith("vobject ") for line in found), found


def test_icalendars_own_tehran_vtimezone_is_misread(feed_app, feed_client, tmp_path):
    """Why feeds.vtimezone exists: with the VTIMEZONE icalendar writes by default for
    Asia/Tehran, ical.js and vobject put 1398's summer events an hour off."""
    default = icalendar.Timezone.from_tzinfo(TEHRAN).to_ical()
    files = _dst_feed_files(feed_app, feed_client, tmp_path,
                            lambda data: _replace_vtimezone(data, default))
    found = disagreements(files)
    assert any(line.startswith("ical.js ") for line in found), found
    assert any(line.startswith("vobject ") for line in found), found


# ------------------------------------------------------------------------- VTIMEZONE

def _observances(component) -> list:
    return [sub for sub in component.subcomponents if sub.name in ("STANDARD", "DAYLIGHT")]


@pytest.mark.parametrize("tzid, year", [("Asia/Tehran", 2019), ("Asia/Tehran", 2025),
                                        ("Asia/Tehran", 1978), ("Europe/Berlin", 2025)])
def test_vtimezone_holds_each_real_transition(tzid, year):
    zone = ZoneInfo(tzid)
    component = feeds.vtimezone(tzid, year, year)
    observances = _observances(component)
    # Count the changes of offset by brute force, hour by hour, over the year.
    moment = dt.datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
    stop = dt.datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    changes, last = 0, moment.astimezone(zone).utcoffset()
    while moment < stop:
        moment += dt.timedelta(minutes=30)
        offset = moment.astimezone(zone).utcoffset()
        changes += offset != last
        last = offset
    assert len(observances) == 1 + changes
    for observance in observances[1:]:
        before = observance["TZOFFSETFROM"].td
        after = observance["TZOFFSETTO"].td
        # DTSTART is the local time before the change, in the old offset (RFC 5545).
        instant = observance.decoded("DTSTART").replace(tzinfo=dt.timezone(before))
        assert (instant - dt.timedelta(seconds=1)).astimezone(zone).utcoffset() == before
        assert instant.astimezone(zone).utcoffset() == after
        assert (observance.name == "DAYLIGHT") == bool(instant.astimezone(zone).dst())


def test_tehran_1398_has_daylight_saving_and_1404_does_not():
    assert [o.name for o in _observances(feeds.vtimezone("Asia/Tehran", 2019, 2019))] == \
        ["STANDARD", "DAYLIGHT", "STANDARD"]
    assert [o.name for o in _observances(feeds.vtimezone("Asia/Tehran", 2025, 2025))] == \
        ["STANDARD"]


def test_vtimezone_is_built_once_per_zone_and_years():
    assert feeds.vtimezone("Asia/Tehran", 2025, 2025) is \
        feeds.vtimezone("Asia/Tehran", 2025, 2025)
    assert feeds.vtimezone("Asia/Tehran", 2019, 2019) is not \
        feeds.vtimezone("Asia/Tehran", 2025, 2025)


def test_one_vtimezone_per_tzid_used(feed_client):
    data = get_ok(feed_client, "/khalilabad-1404.ics")
    tzids = set(re.findall(rb";TZID=([^:;]+)[:;]", data))
    assert tzids == {b"Asia/Tehran"}
    assert data.count(b"BEGIN:VTIMEZONE") == 1
    assert b"TZID:Asia/Tehran\r\n" in data


# ---------------------------------------------------------------------- golden files

def normalise(data: bytes) -> str:
    """Unfolded content lines, properties sorted within each component, "\\n" endings."""
    lines = data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")
    assert lines[-1] == ""

    def component(position: int) -> tuple[list[str], int]:
        begin = lines[position]
        properties, children = [], []
        position += 1
        while not lines[position].startswith("END:"):
            if lines[position].startswith("BEGIN:"):
                child, position = component(position)
                children.extend(child)
            else:
                properties.append(lines[position])
                position += 1
        return [begin, *sorted(properties), *children, lines[position]], position + 1

    result, end = component(0)
    assert end == len(lines) - 1
    return "\n".join(result) + "\n"


GOLDEN_FEEDS = {
    "khalilabad-1404.ics": "/khalilabad-1404.ics",
    "khalilabad-1404-visit.ics": "/khalilabad-1404/categories/visit.ics",
    "khalilabad-1404-service-desk.ics": "/khalilabad-1404/events/service-desk.ics",
    "khalilabad-1404-peoples-visits.ics": "/khalilabad-1404/events/peoples-visits.ics",
    "dst-1398-shahrivar.ics": "/dst-1398-shahrivar.ics",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_FEEDS))
def test_feed_matches_its_golden_file(feed_client, name):
    found = normalise(get_ok(feed_client, GOLDEN_FEEDS[name]))
    golden = GOLDEN / name
    if os.environ.get("WEEK_PLANNER_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(found, encoding="utf-8", newline="\n")
    assert golden.is_file(), f"{golden} is missing: run with WEEK_PLANNER_UPDATE_GOLDEN=1"
    assert found == golden.read_text(encoding="utf-8")


def test_normalise_ignores_property_order_only():
    a = b"BEGIN:VCALENDAR\r\nB:2\r\nA:1\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:1\r\n" \
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    b = b"BEGIN:VCALENDAR\r\nA:1\r\nB:2\r\nBEGIN:VEVENT\r\nDTSTART:1\r\nUID:\r\n x\r\n" \
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    assert normalise(a) == normalise(b)
    assert normalise(a) != normalise(a.replace(b"B:2", b"B:3"))


# ------------------------------------------------------------------------ contents

def _events(data: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def test_calendar_properties(feed_client):
    data = get_ok(feed_client, "/khalilabad-1404.ics")
    lines = data.decode("utf-8").replace("\r\n ", "").split("\r\n")
    calendar = icalendar.Calendar.from_ical(data)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == feeds.PRODID
    assert "METHOD" not in calendar  # see test_feed_edge_times.py
    for name in ("NAME", "X-WR-CALNAME"):
        assert sum(line.startswith(name + ":") for line in lines) == 1
        assert str(calendar[name]) == "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد"
    heading = "اداره تعاون، کار و رفاه اجتماعی شهرستان خلیل‌آباد، ۱۱ تا ۱۷ شهریور ۱۴۰۴"
    assert str(calendar["DESCRIPTION"]).startswith(heading + "\n\nبه مناسبت هفته تعاون")
    # the YAML's wrapped lines join: no break in mid-sentence, paragraphs kept
    assert "تشکیل شده و بر اساس" in str(calendar["DESCRIPTION"])
    assert "\n" not in str(calendar["DESCRIPTION"]).replace("\n\n", "")
    # icalendar leaves an X- property's text escaped when it reads it.
    assert str(calendar["X-WR-CALDESC"]).startswith(heading + "\\n\\nبه مناسبت هفته تعاون")
    assert str(calendar["X-WR-TIMEZONE"]) == "Asia/Tehran"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT6H" in lines  # before the week
    assert "X-PUBLISHED-TTL:PT6H" in lines
    assert str(calendar["SOURCE"]) == BASE_URL + "/khalilabad-1404.ics"


def test_refresh_hints_follow_the_phase(tmp_path, folder):
    clock = Clock(dt.datetime(2025, 9, 3, 8, 0, tzinfo=UTC))  # during the week
    client = make_app(tmp_path, folder, clock).test_client()
    during = get_ok(client, "/khalilabad-1404.ics")
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in during
    clock.now = dt.datetime(2025, 9, 20, tzinfo=UTC)  # after it
    after = get_ok(client, "/khalilabad-1404.ics")
    assert b"REFRESH-INTERVAL;VALUE=DURATION:P1D\r\n" in after
    assert b"X-PUBLISHED-TTL:P1D\r\n" in after


def test_event_properties(feed_client):
    events = _events(get_ok(feed_client, "/khalilabad-1404.ics"))
    assert len(events) == 14  # 11 events, two of them repeated (3 + 2 dates)
    tribute = events["khalilabad-1404/martyrs-tribute@week-planner"]
    assert tribute["DTSTART"].params["TZID"] == "Asia/Tehran"
    assert tribute.decoded("DTSTART") == dt.datetime(2025, 9, 2, 8, 0, tzinfo=TEHRAN)
    assert str(tribute["SUMMARY"]) == "ادای احترام به شهدای انقلاب"
    assert str(tribute["LOCATION"]) == "گلزار شهدای خلیل‌آباد، خلیل‌آباد، بلوار شهدا"
    assert "GEO:35.2571;58.2912" in tribute.to_ical().decode("utf-8").splitlines()
    assert str(tribute["URL"]) == BASE_URL + "/khalilabad-1404/events/martyrs-tribute/"
    assert tribute["CATEGORIES"].cats == ["مراسم"]
    assert str(tribute["STATUS"]) == "CONFIRMED"
    description = str(tribute["DESCRIPTION"])
    assert description.startswith("سه‌شنبه ۱۱ شهریور ۱۴۰۴، ساعت ۰۸:۰۰ تا ۰۹:۰۰")
    assert "فرماندار" in description
    assert tribute.decoded("DTSTAMP") == tribute.decoded("LAST-MODIFIED") == \
        T0.replace(microsecond=0)
    assert not tribute.walk("VALARM")  # the ceremony category has no reminders

    desk = events["khalilabad-1404/service-desk@week-planner"]
    assert desk["DTSTART"].params.get("VALUE") == "DATE"
    assert desk.decoded("DTSTART") == dt.date(2025, 9, 3)
    assert desk.decoded("DTEND") == dt.date(2025, 9, 4)
    assert str(desk["DESCRIPTION"]).startswith("چهارشنبه ۱۲ شهریور ۱۴۰۴، تمام روز")

    visits = [uid for uid in events if "/peoples-visits/" in uid]
    assert sorted(visits) == [f"khalilabad-1404/peoples-visits/{day}@week-planner"
                              for day in ("2025-09-03", "2025-09-04", "2025-09-07")]
    alarms = events[visits[0]].walk("VALARM")
    assert sorted(alarm.decoded("TRIGGER") for alarm in alarms) == \
        [-dt.timedelta(days=1), -dt.timedelta(hours=1)]
    assert {str(alarm["ACTION"]) for alarm in alarms} == {"DISPLAY"}
    # The think tank's own reminders win over its category's (none).
    think = events["khalilabad-1404/think-tank@week-planner"]
    assert sorted(a.decoded("TRIGGER") for a in think.walk("VALARM")) == \
        [-dt.timedelta(days=1), -dt.timedelta(hours=2)]


def test_uids_do_not_depend_on_the_host(feed_app):
    one = feed_app.test_client().get("/khalilabad-1404.ics",
                                      base_url="http://localhost").data
    two = feed_app.test_client().get("/khalilabad-1404.ics",
                                      base_url="https://another.example.org").data
    assert one == two
    assert set(_events(one)) == {
        feeds.uid("khalilabad-1404", occurrence.key)
        for occurrence in load_file(SAMPLE).programme.occurrences()}


def test_all_day_reminders_count_from_the_configured_hour(tmp_path, folder, clock):
    text = (folder / SAMPLE.name).read_text(encoding="utf-8")
    (folder / SAMPLE.name).write_text(text.replace(
        "    all_day: true\n    venue: edareh\n",
        "    all_day: true\n    venue: edareh\n    reminders: [1d, 1h]\n"), encoding="utf-8")
    client = make_app(tmp_path, folder, clock, ALL_DAY_REMINDER_HOUR=9).test_client()
    desk = _events(get_ok(client, "/khalilabad-1404.ics"))[
        "khalilabad-1404/service-desk@week-planner"]
    # 1 day before 09:00 of the day is 15 hours before its midnight; 1 hour: 08:00.
    assert sorted(a.decoded("TRIGGER") for a in desk.walk("VALARM")) == \
        [-dt.timedelta(hours=15), dt.timedelta(hours=8)]


def test_a_cancelled_event_in_the_file(tmp_path, folder, clock):
    text = (folder / SAMPLE.name).read_text(encoding="utf-8")
    (folder / SAMPLE.name).write_text(text.replace(
        "    venue: meydan\n", "    venue: meydan\n    status: cancelled\n"), encoding="utf-8")
    client = make_app(tmp_path, folder, clock).test_client()
    parade = _events(get_ok(client, "/khalilabad-1404.ics"))[
        "khalilabad-1404/taxi-parade@week-planner"]
    assert str(parade["STATUS"]) == "CANCELLED"
    assert str(parade["SUMMARY"]) == "لغو شد: رژه خودروهای تعاونی تاکسی بی‌سیم"
    assert not parade.walk("VALARM")


# -------------------------------------------------------------------- bytes on the wire

NASTY_TITLE = "نشست هم‌اندیشی، تعاونی‌ها؛ «ویژه» \\ بخش‌های می‌شود, a;b\\c"
NASTY_DESCRIPTION = (
    # blank lines: paragraphs, so that each line starts a line of the description
    "خط اول با نیم‌فاصله‌ها: می‌شود، می‌گویند؛ نمی‌خواهند\\n نه یک خط تازه\n\n"
    "STATUS:CANCELLED\n\nEND:VEVENT\n\nBEGIN:VEVENT\n\nUID:injected\n\n"
    + "هم‌اندیشی‌ها، " * 40 + "\n\\ پایان؛ ,;"
)


def test_folding_crlf_and_escaping_byte_by_byte(tmp_path, clock):
    folder = tmp_path / "schedules"
    folder.mkdir()
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("    title: نشست هم‌اندیشی مدیران تعاونی‌ها\n",
                        f"    title: {json.dumps(NASTY_TITLE, ensure_ascii=False)}\n")
    text = text.replace("    duration: 2h\n    venue: farmandari\n",
                        "    duration: 2h\n    venue: farmandari\n"
                        f"    description: {json.dumps(NASTY_DESCRIPTION, ensure_ascii=False)}\n")
    (folder / SAMPLE.name).write_text(text, encoding="utf-8")
    client = make_app(tmp_path, folder, clock).test_client()
    data = get_ok(client, "/khalilabad-1404/events/think-tank.ics")

    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    physical = data.split(b"\r\n")[:-1]
    for line in physical:
        assert len(line) <= 75, line
        line.decode("utf-8")  # no UTF-8 character is split across lines
    assert sum(line.startswith(b" ") for line in physical) > 10
    logical = data.decode("utf-8").replace("\r\n ", "").split("\r\n")
    uids = [line for line in logical if line.startswith("UID:")]  # the event's, its alarms'
    assert len(uids) == 3
    assert all(line.startswith("UID:khalilabad-1404/think-tank@week-planner") for line in uids)
    assert sum(line == "BEGIN:VEVENT" for line in logical) == 1
    assert sum(line.startswith("STATUS:") for line in logical) == 1
    summary = next(line for line in logical if line.startswith("SUMMARY:"))
    assert summary == "SUMMARY:" + NASTY_TITLE.replace("\\", "\\\\").replace(
        ";", "\\;").replace(",", "\\,")
    event = _events(data)["khalilabad-1404/think-tank@week-planner"]
    assert str(event["SUMMARY"]) == NASTY_TITLE
    assert description_text(NASTY_DESCRIPTION) in str(event["DESCRIPTION"])
    assert "\nSTATUS:CANCELLED\n" in str(event["DESCRIPTION"])
    # Every ZWNJ survives, and the text cannot start a property of its own.
    assert NASTY_DESCRIPTION.count("\u200c") > 40
    assert not any(line.startswith(("END:VEVENT", "BEGIN:VEVENT")) and line not in
                   ("END:VEVENT", "BEGIN:VEVENT") for line in logical)


# ----------------------------------------------------------------- changes and restarts

def _sequence_and_modified(event) -> tuple[int, dt.datetime]:
    return int(event["SEQUENCE"]), event.decoded("LAST-MODIFIED")


def test_changes_reach_clients_and_survive_restarts(tmp_path, folder):
    clock = Clock(T0)
    app = make_app(tmp_path, folder, clock)
    first = _events(get_ok(app.test_client(), "/khalilabad-1404.ics"))
    think_uid = "khalilabad-1404/think-tank@week-planner"
    parade_uid = "khalilabad-1404/taxi-parade@week-planner"
    assert _sequence_and_modified(first[think_uid]) == (0, T0)

    # The organiser moves the think tank an hour later and removes the parade.
    path = folder / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    text = text.replace('    date: 1404-06-16\n    start: "16:00"\n    duration: 2h\n',
                        '    date: 1404-06-16\n    start: "17:00"\n    duration: 2h\n')
    parade = re.search(r"  - id: taxi-parade\n(?:    .*\n)+\n", text).group(0)
    path.write_text(text.replace(parade, ""), encoding="utf-8")
    later = T0 + dt.timedelta(hours=5)
    clock.now = later
    changed_bytes = get_ok(app.test_client(), "/khalilabad-1404.ics")
    changed = _events(changed_bytes)
    assert set(changed) == set(first)
    assert _sequence_and_modified(changed[think_uid]) == (1, later)
    assert changed[think_uid].decoded("DTSTART") == dt.datetime(2025, 9, 7, 17, 0,
                                                                tzinfo=TEHRAN)
    assert _sequence_and_modified(changed[parade_uid]) == (1, later)
    assert str(changed[parade_uid]["STATUS"]) == "CANCELLED"
    assert str(changed[parade_uid]["SUMMARY"]).startswith("لغو شد: ")
    for uid in set(first) - {think_uid, parade_uid}:
        assert _sequence_and_modified(changed[uid]) == (0, T0), uid
        assert changed[uid].to_ical() == first[uid].to_ical()

    # What changed is kept in full, for the changelog and change notices.
    history = revision_store.event_history(store.app_engine(app), "khalilabad-1404")
    moved = [h for h in history if h["occurrence_key"] == "think-tank"]
    assert [h["kind"] for h in moved] == ["added", "changed"]
    assert moved[1]["previous"]["start"] == "2025-09-07T16:00:00+03:30"
    assert moved[1]["snapshot"]["start"] == "2025-09-07T17:00:00+03:30"

    # A restart, later still: nothing changed, so not one byte does.
    clock.now = later + dt.timedelta(hours=3)
    restarted = make_app(tmp_path, folder, clock)
    assert get_ok(restarted.test_client(), "/khalilabad-1404.ics") == changed_bytes

    # After the retention time the removed parade leaves the feed.
    clock.now = later + dt.timedelta(days=31)
    gone = _events(get_ok(restarted.test_client(), "/khalilabad-1404.ics"))
    assert parade_uid not in gone and think_uid in gone


def test_a_deleted_file_keeps_its_feeds_as_cancelled(tmp_path, folder):
    clock = Clock(T0)
    app = make_app(tmp_path, folder, clock)
    client = app.test_client()
    before = _events(get_ok(client, "/khalilabad-1404/categories/visit.ics"))
    (folder / SAMPLE.name).unlink()
    clock.now = T0 + dt.timedelta(hours=1)
    after = _events(get_ok(client, "/khalilabad-1404/categories/visit.ics"))
    assert set(after) == set(before)
    for event in after.values():
        assert str(event["STATUS"]) == "CANCELLED"
        assert int(event["SEQUENCE"]) == 1
        assert str(event["SUMMARY"]).startswith("لغو شد: ")
    whole = get_ok(client, "/khalilabad-1404.ics")
    # And after a restart.
    restarted = make_app(tmp_path, folder, clock)
    assert get_ok(restarted.test_client(), "/khalilabad-1404.ics") == whole
    clock.now = T0 + dt.timedelta(days=31)
    assert _events(get_ok(restarted.test_client(), "/khalilabad-1404.ics")) == {}


def test_a_file_deleted_while_stopped_is_cancelled_at_start(tmp_path, folder):
    clock = Clock(T0)
    get_ok(make_app(tmp_path, folder, clock).test_client(), "/khalilabad-1404.ics")
    (folder / SAMPLE.name).unlink()
    clock.now = T0 + dt.timedelta(hours=2)
    events = _events(get_ok(make_app(tmp_path, folder, clock).test_client(),
                            "/khalilabad-1404.ics"))
    assert len(events) == 14
    assert {str(e["STATUS"]) for e in events.values()} == {"CANCELLED"}


def test_an_event_moved_to_another_category_leaves_the_old_ones_feed(tmp_path, folder):
    clock = Clock(T0)
    app = make_app(tmp_path, folder, clock)
    get_ok(app.test_client(), "/khalilabad-1404.ics")
    path = folder / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    category: parade\n", "    category: ceremony\n"),
                    encoding="utf-8")
    clock.now = T0 + dt.timedelta(hours=1)
    uid = "khalilabad-1404/taxi-parade@week-planner"
    old = _events(get_ok(app.test_client(), "/khalilabad-1404/categories/parade.ics"))
    new = _events(get_ok(app.test_client(), "/khalilabad-1404/categories/ceremony.ics"))
    assert str(old[uid]["STATUS"]) == "CANCELLED"
    assert str(new[uid]["STATUS"]) == "CONFIRMED"
    assert int(old[uid]["SEQUENCE"]) == int(new[uid]["SEQUENCE"]) == 1


def test_syncing_the_same_change_twice_bumps_sequence_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engines = [store.engine_for(url), store.engine_for(url)]
    store.create_schema(engines[0])
    programme = load_file(SAMPLE).programme
    snapshots = feeds.occurrence_snapshots(programme)
    meta = feeds.programme_snapshot(programme)
    revision_store.sync_revisions(engines[0], programme.id, "v1", meta, snapshots, T0)
    snapshots["think-tank"] = {**snapshots["think-tank"], "title": "عنوان تازه"}
    for engine in engines:
        result = revision_store.sync_revisions(engine, programme.id, "v2", meta, snapshots,
                                      T0 + dt.timedelta(hours=1))
        assert {r.occurrence_key: r.sequence for r in result.revisions}["think-tank"] == 1


RACER = textwrap.dedent("""
    import datetime as dt, sys, time, zoneinfo
    from pathlib import Path
    zoneinfo.reset_tzpath(to=[])
    from week_planner import create_app
    from week_planner.publish.feed_service import feed_service
    schedules, instance, go, ready = sys.argv[1:5]
    now = dt.datetime(2025, 8, 21, tzinfo=dt.timezone.utc)
    app = create_app({"SCHEDULES_DIR": schedules, "INSTANCE_DIR": instance,
                      "RELOAD_INTERVAL": 0, "SECRET_KEY": "a-test-secret-key-of-some-length",
                      "CLOCK": lambda: now})
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.002)
    stored = feed_service(app).stored("khalilabad-1404")
    print({r.occurrence_key: r.sequence for r in stored.revisions.revisions}["think-tank"])
""")


def test_two_processes_loading_the_same_change_bump_sequence_once(tmp_path, folder):
    app = make_app(tmp_path, folder, Clock(T0))
    get_ok(app.test_client(), "/khalilabad-1404.ics")
    path = folder / SAMPLE.name
    path.write_text(path.read_text(encoding="utf-8").replace(
        '    start: "16:00"\n    duration: 2h\n', '    start: "16:30"\n    duration: 2h\n'),
        encoding="utf-8")
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{number}" for number in range(2)]
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(folder),
                                str(tmp_path / "instance"), str(go), str(flag)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for flag in ready]
    import time
    deadline = time.monotonic() + 120
    # Both are waiting at the start line, however slowly they started.
    while not all(flag.exists() for flag in ready):
        assert all(racer.poll() is None for racer in racers), \
            [racer.communicate() for racer in racers]
        assert time.monotonic() < deadline, "the racers never got ready"
        time.sleep(0.01)
    go.touch()
    outputs = [racer.communicate(timeout=120) for racer in racers]
    for racer, (out, err) in zip(racers, outputs):
        assert racer.returncode == 0, err
        assert out.strip() == "1"
    history = [h for h in revision_store.event_history(store.app_engine(app), "khalilabad-1404")
               if h["occurrence_key"] == "think-tank"]
    assert [(h["kind"], h["sequence"]) for h in history] == [("added", 0), ("changed", 1)]


# ---------------------------------------------------------------------------- HTTP

def test_http_headers(feed_client):
    response = feed_client.get("/khalilabad-1404/categories/visit.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="khalilabad-1404-visit.ics"'
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    etag, weak = response.get_etag()
    assert etag and not weak
    assert response.last_modified == T0.replace(microsecond=0)


def test_conditional_requests_and_head(feed_client):
    url = "/khalilabad-1404.ics"
    response = feed_client.get(url)
    etag = response.headers["ETag"]
    assert feed_client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert feed_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    since = response.headers["Last-Modified"]
    assert feed_client.get(url, headers={"If-Modified-Since": since}).status_code == 304
    earlier = (T0 - dt.timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert feed_client.get(url, headers={"If-Modified-Since": earlier}).status_code == 200
    head = feed_client.head(url)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == etag
    assert head.headers["Content-Length"] == str(len(response.data))


def test_feeds_are_built_once_and_served_from_memory(feed_app, feed_client, clock):
    service = feed_service(feed_app)
    first = get_ok(feed_client, "/khalilabad-1404.ics")
    builds = service.builds
    for _ in range(5):
        clock.now += dt.timedelta(minutes=10)
        assert get_ok(feed_client, "/khalilabad-1404.ics") == first
    assert service.builds == builds


def test_personal_feed_holds_only_the_chosen_events(feed_app, feed_client):
    token = make_my_token(feed_app, "khalilabad-1404", ["taxi-parade", "peoples-visits"])
    events = _events(get_ok(feed_client, f"/khalilabad-1404/my/{token}.ics"))
    assert sorted(events) == sorted(
        ["khalilabad-1404/taxi-parade@week-planner"]
        + [f"khalilabad-1404/peoples-visits/{day}@week-planner"
           for day in ("2025-09-03", "2025-09-04", "2025-09-07")])


def test_tampered_or_foreign_tokens_are_404(feed_app, feed_client):
    token = make_my_token(feed_app, "khalilabad-1404", ["taxi-parade"])
    assert feed_client.get(f"/khalilabad-1404/my/{token}.ics").status_code == 200
    payload, signature = token.rsplit(".", 1)
    forged = make_my_token(feed_app, "khalilabad-1404", ["think-tank"]).rsplit(".", 1)[0]
    for bad in (f"{forged}.{signature}", f"{payload}.{signature[:-2]}xx", "nonsense"):
        assert feed_client.get(f"/khalilabad-1404/my/{bad}.ics").status_code == 404
    # Signed for another programme.
    other = make_my_token(feed_app, "dst-1398-shahrivar", ["taxi-parade"])
    assert feed_client.get(f"/khalilabad-1404/my/{other}.ics").status_code == 404


def test_unknown_feeds_are_404(feed_client):
    for url in ("/nowhere.ics", "/khalilabad-1404/categories/nowhere.ics",
                "/khalilabad-1404/events/nowhere.ics"):
        assert feed_client.get(url).status_code == 404, url


# ------------------------------------------------------------------------- the pages

def _page(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, url
    return lxml.html.fromstring(response.data)


def test_subscribe_box_on_the_programme_page(feed_client):
    page = _page(feed_client, "/khalilabad-1404/")
    box = page.cssselect("section.subscribe")[0]
    hrefs = [a.get("href") for a in box.cssselect("a")]
    feed = BASE_URL + "/khalilabad-1404.ics"
    webcal = "webcal://hafte.example.ir/khalilabad-1404.ics"
    assert webcal in hrefs
    assert feed in hrefs
    assert "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="") in hrefs
    assert box.cssselect("svg")  # the QR code
    text = box.text_content()
    assert "اندروید" in text and "آیفون" in text and "چند ساعت" in text
    assert feed_client.get(feed).status_code == 200


def test_subscribe_box_on_a_category_page(feed_client):
    box = _page(feed_client, "/khalilabad-1404/categories/visit/").cssselect(
        "section.subscribe")[0]
    hrefs = [a.get("href") for a in box.cssselect("a")]
    assert BASE_URL + "/khalilabad-1404/categories/visit.ics" in hrefs
    assert "webcal://hafte.example.ir/khalilabad-1404/categories/visit.ics" in hrefs


def test_qr_code_encodes_the_feed_address(feed_client):
    import segno
    box = _page(feed_client, "/khalilabad-1404/").cssselect("section.subscribe")[0]
    svg = lxml.html.tostring(box.cssselect("svg")[0], encoding="unicode")
    expected = segno.make(BASE_URL + "/khalilabad-1404.ics", error="m")
    path = re.search(r' d="([^"]+)"', svg).group(1)
    assert path in expected.svg_inline(scale=4, border=2)


def test_add_to_calendar_on_an_event_page(feed_client):
    box = _page(feed_client, "/khalilabad-1404/events/taxi-parade/").cssselect(
        "section.add-to-calendar")[0]
    hrefs = [a.get("href") for a in box.cssselect("a")]
    assert BASE_URL + "/khalilabad-1404/events/taxi-parade.ics" in hrefs
    google = [h for h in hrefs if h.startswith("https://calendar.google.com/")]
    assert len(google) == 1
    # 16:00–17:30 Tehran time on 6 September 2025 is 12:30–14:00 UTC.
    assert "dates=20250906T123000Z%2F20250906T140000Z" in google[0]
    assert "action=TEMPLATE" in google[0]


def test_add_to_calendar_for_a_repeated_event_links_each_date(feed_client):
    box = _page(feed_client, "/khalilabad-1404/events/peoples-visits/").cssselect(
        "section.add-to-calendar")[0]
    google = [a.get("href") for a in box.cssselect("a")
              if a.get("href").startswith("https://calendar.google.com/")]
    assert len(google) == 3


def test_my_programme_page_gives_a_working_personal_feed(feed_client):
    page = _page(feed_client, "/khalilabad-1404/my/")
    assert len(page.cssselect("input[type=checkbox][name=e]")) == 11
    assert not page.cssselect("section.subscribe")
    page = _page(feed_client, "/khalilabad-1404/my/?e=think-tank&e=best-cooperatives-award")
    links = [a.get("href") for a in page.cssselect("section.subscribe a")
             if a.get("href", "").startswith(BASE_URL + "/khalilabad-1404/my/")]
    assert len(links) == 1
    events = _events(get_ok(feed_client, links[0][len(BASE_URL):]))
    assert sorted(events) == ["khalilabad-1404/best-cooperatives-award@week-planner",
                              "khalilabad-1404/think-tank@week-planner"]
    checked = [box.get("value") for box in page.cssselect("input[checked]")]
    assert sorted(checked) == ["best-cooperatives-award", "think-tank"]


def _sent_as_a_browser_would(client, page, ticked=()):
    """The my-programme form sent the way a browser sends it: its hidden fields, the ticked
    boxes, to its action (a browser drops the fragment from the request)."""
    (form,) = page.cssselect("form.my-choice")
    fields = [(field.get("name"), field.get("value"))
              for field in form.cssselect("input[type=hidden]")]
    fields += [("e", value) for value in ticked]
    action = form.get("action")
    assert action.endswith("#my-calendar")
    return client.get(action.split("#")[0], query_string=fields)


def test_my_programme_with_nothing_ticked_says_so(feed_client):
    page = _page(feed_client, "/khalilabad-1404/my/")
    assert not page.cssselect("[role=alert]")
    response = _sent_as_a_browser_would(feed_client, page)
    assert response.status_code == 400
    again = lxml.html.fromstring(response.data)
    (alert,) = again.cssselect("[role=alert]")
    assert alert.get("id") == "my-calendar"
    assert "دست‌کم یک برنامه را علامت بزنید" in alert.text_content()
    assert not again.cssselect("section.subscribe")
    assert len(again.cssselect("input[type=checkbox][name=e]")) == 11
    assert "no-store" in response.headers["Cache-Control"]
    unknown = feed_client.get("/khalilabad-1404/my/?build=1&e=no-such-event")
    assert unknown.status_code == 400
    assert lxml.html.fromstring(unknown.data).cssselect("[role=alert]")


def test_my_programme_result_comes_before_the_list(feed_client):
    page = _page(feed_client, "/khalilabad-1404/my/")
    response = _sent_as_a_browser_would(feed_client, page, ["think-tank", "taxi-parade"])
    assert response.status_code == 200
    result = lxml.html.fromstring(response.data)
    order = [element.get("id") or element.get("class")
             for element in result.cssselect("#my-calendar, form.my-choice")]
    assert order == ["my-calendar", "my-choice"]
    assert result.cssselect("#my-calendar section.subscribe")
    assert not result.cssselect("[role=alert]")


def test_a_new_programme_title_is_a_new_feed_with_a_later_last_modified(tmp_path, folder):
    clock = Clock(T0)
    client = make_app(tmp_path, folder, clock).test_client()
    first = client.get("/khalilabad-1404.ics")
    path = folder / SAMPLE.name
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  title: هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد\n",
        "  title: هفته تعاون ۱۴۰۴ خلیل‌آباد\n"), encoding="utf-8")
    clock.now = T0 + dt.timedelta(hours=1)
    second = client.get("/khalilabad-1404.ics",
                        headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert second.status_code == 200
    assert second.last_modified == clock.now
    assert str(icalendar.Calendar.from_ical(second.data)["X-WR-CALNAME"]) == \
        "هفته تعاون ۱۴۰۴ خلیل‌آباد"


# ------------------------------------------------------------ any text, any reader

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ANY_TEXT = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
    | st.sampled_from(["\u200c", "\n", "\r\n", "\r", ";", ",", "\\", ":", "\x00",
                       "\nBEGIN:VEVENT\n", "\r\nEND:VCALENDAR", "ی", "ك"]),
    min_size=1, max_size=12).map("".join)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(title=ANY_TEXT, description=ANY_TEXT, venue=ANY_TEXT)
@example(title="a\\Nb\\", description="\\N", venue="\\\\N")
def test_any_text_comes_back_as_written(title, description, venue):
    """Whatever organisers type, the feed stays well formed and every reader gets the
    same text back (control characters, which iCalendar cannot carry, are dropped)."""
    snapshot = {
        "event": "e", "title": title, "category": "c", "category_label": venue,
        "timezone": "Asia/Tehran", "all_day": False,
        "start": "2025-09-02T08:00:00+03:30", "end": "2025-09-02T09:00:00+03:30",
        "venue": {"name": venue, "address": None, "location": None},
        "description": description, "hosts": [], "status": "scheduled", "url": None,
        "reminders": [3600],
    }
    revision = revision_store.Revision("p", "e", "e", 0, snapshot, False, T0, T0)
    programme = {"timezone": "Asia/Tehran", "description": description}
    data = feeds.build_feed(feeds.FeedInfo(title, description, "https://x/p.ics", "https://x/p/"),
                            programme, [feeds.Entry(revision, False)], programme_id="p",
                            base_url="https://x", current_phase="before")
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75
        line.decode("utf-8")
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert len(event) == 1

    def as_read(text: str) -> str:
        # A written "\N" is a line break, as icalendar writes it (RFC 5545's escape of one)
        return text.replace("\\N", "\n").replace("\r\n", "\n").replace("\r", "\n")

    expected = {"SUMMARY": as_read(feeds.clean_text(title)),
                "LOCATION": as_read(feeds.clean_text(venue))}
    for name, text in expected.items():
        assert str(event[0][name]) == text
    assert as_read(feeds.clean_text(description_text(description))) in \
        as_read(str(event[0]["DESCRIPTION"]))
    assert len(event[0].walk("VALARM")) == 1


def test_zone_rules_come_from_pypi_tzdata():
    """Golden files and expected instants must not depend on the machine's zoneinfo."""
    import zoneinfo
    assert zoneinfo.TZPATH == ()
    assert ZoneInfo("Asia/Tehran").utcoffset(dt.datetime(2019, 7, 1)) == \
        dt.timedelta(hours=4, minutes=30)


def test_a_utc_programme_needs_no_vtimezone():
    snapshot = {"event": "e", "title": "t", "category": "c", "category_label": "c",
                "timezone": "UTC", "all_day": False, "start": "2025-09-02T08:00:00+00:00",
                "end": "2025-09-02T09:00:00+00:00", "venue": None, "description": None,
                "hosts": [], "status": "scheduled", "url": None, "reminders": []}
    revision = revision_store.Revision("p", "e", "e", 0, snapshot, False, T0, T0)
    data = feeds.build_feed(feeds.FeedInfo("p", None, "https://x/p.ics", "https://x/p/"),
                            {"timezone": "UTC"}, [feeds.Entry(revision, False)],
                            programme_id="p", base_url="https://x", current_phase="before")
    assert b"DTSTART:20250902T080000Z\r\n" in data
    assert b"VTIMEZONE" not in data


def test_loading_a_programme_records_its_revisions_before_any_feed_is_asked(feed_app):
    assert feed_app.test_client().get("/khalilabad-1404/").status_code == 200
    revisions = revision_store.load_revisions(store.app_engine(feed_app), "khalilabad-1404")
    assert len(revisions.revisions) == 14
    assert {r.sequence for r in revisions.revisions} == {0}
    assert revisions.programme["title"] == "هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد"


def test_a_programme_that_cannot_be_recorded_leaves_the_others_recorded(
        tmp_path, folder, clock, monkeypatch):
    """The programmes of a folder are recorded in batches; when one of them fails, the
    batch is recorded again one programme at a time, and only that one is missing."""
    real = feeds.occurrence_snapshots

    def failing(programme):
        if programme.id == "dst-1398-farvardin":
            raise RuntimeError("a programme that cannot be recorded")
        return real(programme)

    monkeypatch.setattr(feeds, "occurrence_snapshots", failing)
    app = make_app(tmp_path, folder, clock)
    assert app.test_client().get("/").status_code == 200
    engine = store.app_engine(app)
    assert sorted(revision_store.stored_programme_ids(engine)) == [
        "dst-1398-shahrivar", "khalilabad-1404"]
    assert len(revision_store.load_revisions(engine, "khalilabad-1404").revisions) == 14
    monkeypatch.setattr(feeds, "occurrence_snapshots", real)
    get_ok(app.test_client(), "/dst-1398-farvardin.ics")  # recorded when asked for


def test_a_removed_occurrence_that_comes_back_is_restored_with_a_new_sequence(tmp_path):
    engine = store.engine_for(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    store.create_schema(engine)
    programme = load_file(SAMPLE).programme
    meta = feeds.programme_snapshot(programme)
    everything = feeds.occurrence_snapshots(programme)
    fewer = {key: value for key, value in everything.items() if key != "taxi-parade"}
    moments = [T0 + dt.timedelta(hours=hours) for hours in range(3)]
    for snapshots, moment in zip((everything, fewer, everything), moments):
        result = revision_store.sync_revisions(
                engine, programme.id, "v", meta, snapshots, moment)
    parade = next(r for r in result.revisions if r.occurrence_key == "taxi-parade")
    assert (parade.sequence, parade.removed, parade.modified_at) == (2, False, moments[2])
    kinds = [h["kind"] for h in revision_store.event_history(engine, programme.id)
             if h["occurrence_key"] == "taxi-parade"]
    assert kinds == ["added", "removed", "restored"]


def test_my_programme_page_carries_the_security_headers_and_is_not_stored(client):
    response = client.get("/khalilabad-1404/my/?e=taxi-parade")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "no-store" in response.headers["Cache-Control"]
