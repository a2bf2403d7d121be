"""The c3voc conference schedule: schema validity, content, stable ids, escaping, routes.

The official JSON schema and XSD are in ``tests/data/c3voc`` (see its README for origin and
licence). Expected times come from the ``# occurs:`` lines of the good fixtures, written
by hand, not from the code under test.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
import uuid
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from week_planner import get_registry
from week_planner.publish import conference_schedule
from week_planner.publish.feeds import uid
from week_planner.schedule.loading import load_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
C3VOC = DATA / "c3voc"
GOOD = sorted((DATA / "good").glob("*.yaml"))
BASE_URL = "https://hafte.example.ir"
OCCURS = re.compile(r"^# occurs: (\S+) (\S+) (\S+)\s*$", re.M)
EVENT_URL = re.compile(r"/(?P<programme>[a-z0-9-]+)/events/(?P<event>[a-z0-9-]+)/$")

HOSTILE_TITLE = '<script>alert("x")</script> & co ]]> &amp;'
HOSTILE = f"""\
programme:
  id: hostile-1404
  title: "هفته تعاون <b>&</b>"
  organiser: اداره تعاون
  from: 1404-06-11
  to: 1404-06-13
categories:
  meeting: {{label: "نشست <i>", color: "#abc"}}
  x: {{label: دیگر}}
venues:
  hall: {{name: سالن اجتماعات}}
events:
  - id: hostile
    title: '{HOSTILE_TITLE}'
    category: meeting
    date: 1404-06-11
    start: "10:00"
    end: "11:00"
    venue: hall
    hosts: ["A & B <img src=x onerror=alert(1)>", "فرماندار"]
    description: "</description><script>x</script>"
    url: "https://example.ir/?a=1&b=2"
  - id: same-hall-inline
    title: نشست دوم
    category: meeting
    date: 1404-06-11
    start: "12:00"
    end: "13:00"
    venue: {{name: سالن اجتماعات, address: خیابان امام}}
    hosts: [فرماندار]
  - id: nowhere
    title: برنامهٔ بی‌مکان
    category: x
    date: 1404-06-12
    start: "09:00"
    end: "09:45"
  - id: called-off
    title: رژه
    category: x
    date: 1404-06-12
    start: "16:00"
    end: "17:00"
    status: cancelled
  - id: maybe
    title: بازدید
    category: x
    dates: [1404-06-12, 1404-06-13]
    all_day: true
    status: tentative
"""


# -- helpers -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def json_schema():
    schema = json.loads((C3VOC / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def xml_schema():
    return etree.XMLSchema(etree.parse(str(C3VOC / "schedule.xml.xsd")))


def load(path: Path):
    result = load_file(path)
    assert result.ok, [p.format("en") for p in result.problems]
    return result.programme


def json_events(document: dict) -> list[dict]:
    return [event for day in document["schedule"]["conference"]["days"]
            for events in day["rooms"].values() for event in events]


def instant(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, text
    return moment.astimezone(dt.timezone.utc)


def elapsed(duration: str) -> dt.timedelta:
    hours, minutes = duration.split(":")
    return dt.timedelta(hours=int(hours), minutes=int(minutes))


def schema_errors(validator, document) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(document)]


def hostile_programme(tmp_path: Path):
    path = tmp_path / "hostile-1404.yaml"
    path.write_text(HOSTILE, encoding="utf-8")
    return load(path)


# -- validity against the official schemas -----------------------------------------------

@pytest.mark.parametrize("path", [SAMPLE, *GOOD], ids=lambda p: p.stem)
def test_json_is_valid_against_the_c3voc_schema(path, json_schema):
    document = json.loads(conference_schedule.schedule_json(load(path), BASE_URL))
    assert schema_errors(json_schema, document) == []


@pytest.mark.parametrize("path", [SAMPLE, *GOOD], ids=lambda p: p.stem)
def test_xml_is_valid_against_the_c3voc_xsd(path, xml_schema):
    root = etree.fromstring(conference_schedule.schedule_xml(load(path), BASE_URL))
    assert xml_schema.validate(root), [str(e) for e in xml_schema.error_log]


def test_hostile_programme_is_valid_in_both_formats(tmp_path, json_schema, xml_schema):
    programme = hostile_programme(tmp_path)
    document = conference_schedule.schedule_dict(programme, BASE_URL)
    assert schema_errors(json_schema, document) == []
    root = etree.fromstring(conference_schedule.schedule_xml(programme, BASE_URL))
    assert xml_schema.validate(root), [str(e) for e in xml_schema.error_log]


def test_the_validators_do_reject_broken_documents(json_schema, xml_schema):
    """The validity tests above mean something: formats and uniqueness are checked."""
    programme = load(SAMPLE)
    document = conference_schedule.schedule_dict(programme, BASE_URL)
    for field, bad in (("guid", "not-a-uuid"), ("date", "2025-09-02 08:00"),
                       ("url", "not a uri"), ("start", "8:00")):
        broken = copy.deepcopy(document)
        json_events(broken)[0][field] = bad
        assert schema_errors(json_schema, broken), field
    broken = copy.deepcopy(document)
    broken["schedule"]["conference"]["tracks"][0]["color"] = "purpleish"
    assert schema_errors(json_schema, broken)

    root = etree.fromstring(conference_schedule.schedule_xml(programme, BASE_URL))
    events = root.findall("day/room/event")
    events[1].set("guid", events[0].get("guid"))
    assert not xml_schema.validate(root)


# -- content -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_occurrences_and_times_match_the_fixture(path):
    """Every ``# occurs:`` line is one event, at the same instants, and nothing else."""
    expected = sorted((key.split("@")[0], instant(start), instant(end))
                      for key, start, end in OCCURS.findall(path.read_text("utf-8")))
    assert expected, f"{path.name} states no occurrences"
    document = json.loads(conference_schedule.schedule_json(load(path), BASE_URL))
    found = []
    for event in json_events(document):
        start = instant(event["date"])
        assert instant(event["end"]) == start + elapsed(event["duration"])
        found.append((EVENT_URL.search(event["url"])["event"], start, instant(event["end"])))
    assert sorted(found) == expected

    root = etree.fromstring(conference_schedule.schedule_xml(load(path), BASE_URL))
    xml_found = sorted(
        (EVENT_URL.search(event.findtext("url"))["event"], instant(event.findtext("date")),
         instant(event.findtext("date")) + elapsed(event.findtext("duration")))
        for event in root.iter("event"))
    assert xml_found == expected


def test_sample_every_occurrence_once_in_its_day_and_room():
    programme = load(SAMPLE)
    document = conference_schedule.schedule_dict(programme, BASE_URL)
    days = document["schedule"]["conference"]["days"]
    seen = []
    for day in days:
        for room, events in day["rooms"].items():
            for event in events:
                event_id = EVENT_URL.search(event["url"])["event"]
                start = dt.datetime.fromisoformat(event["date"])
                assert start.date().isoformat() == day["date"]
                assert event["room"] == room
                assert room == programme.event(event_id).venue.name
                assert event["start"] == start.strftime("%H:%M")
                seen.append((event_id, day["date"]))
    expected = [(occ.event_id, occ.day.isoformat()) for occ in programme.occurrences()]
    assert len(seen) == len(set(seen)) == 14
    assert sorted(seen) == sorted(expected)
    # peoples-visits repeats on 1404-06-12, 13 and 16: one event on each of those days.
    assert sorted(d for e, d in seen if e == "peoples-visits") == \
        ["2025-09-03", "2025-09-04", "2025-09-07"]


def test_sample_times_in_utc():
    document = conference_schedule.schedule_dict(load(SAMPLE), BASE_URL)
    by_event = {}
    for event in json_events(document):
        by_event.setdefault(EVENT_URL.search(event["url"])["event"], []).append(event)
    # 1404-06-11 is 2 September 2025; Tehran is UTC+03:30 (no daylight saving since 1401).
    tribute, = by_event["martyrs-tribute"]
    assert instant(tribute["date"]) == dt.datetime(2025, 9, 2, 4, 30, tzinfo=dt.timezone.utc)
    assert tribute["date"] == "2025-09-02T08:00:00+03:30"
    assert tribute["duration"] == "01:00"
    think_tank, = by_event["think-tank"]  # written with a duration of 2h
    assert instant(think_tank["end"]) == dt.datetime(2025, 9, 7, 14, 30,
                                                     tzinfo=dt.timezone.utc)
    desk, = by_event["service-desk"]  # all day on 1404-06-12
    assert (desk["date"], desk["start"], desk["duration"]) == \
        ("2025-09-03T00:00:00+03:30", "00:00", "24:00")


def test_sample_days_rooms_and_tracks():
    programme = load(SAMPLE)
    document = conference_schedule.schedule_dict(programme, BASE_URL)
    conference = document["schedule"]["conference"]
    assert document["schedule"]["version"] == programme.version
    assert conference["acronym"] == "khalilabad_1404"
    assert conference["time_zone_name"] == "Asia/Tehran"
    assert conference["daysCount"] == 7
    days = conference["days"]
    assert [day["index"] for day in days] == [1, 2, 3, 4, 5, 6, 7]
    assert [day["date"] for day in days] == [f"2025-09-{n:02d}" for n in range(2, 9)]
    assert days[0]["day_start"] == "2025-09-02T00:00:00+03:30"
    assert days[-1]["day_end"] == "2025-09-09T00:00:00+03:30"
    for day in days:
        assert instant(day["day_end"]) - instant(day["day_start"]) == dt.timedelta(days=1)

    rooms = {room["name"]: room for room in conference["rooms"]}
    assert set(rooms) == {venue.name for venue in programme.venues.values()} | {
        "روستاها و مساجد شهرستان", "کارگاه تعاونی محصولات چوب فدایی"}
    assert rooms["گلزار شهدای خلیل‌آباد"]["description"] == "خلیل‌آباد، بلوار شهدا"
    assert len({room["guid"] for room in rooms.values()}) == len(rooms)

    assert [(t["name"], t["slug"], t["color"]) for t in conference["tracks"]] == [
        (c.label, c.id, c.color) for c in programme.categories.values()]
    for event in json_events(document):
        event_id = EVENT_URL.search(event["url"])["event"]
        assert event["track"] == programme.event(event_id).category.label
        assert event["language"] == "fa"
        assert event["url"] == f"{BASE_URL}/khalilabad-1404/events/{event_id}/"
    award, = [e for e in json_events(document) if "best-cooperatives-award" in e["url"]]
    assert [p["name"] for p in award["persons"]] == [
        "فرماندار", "مسئول اداره تعاون، کار و رفاه اجتماعی"]

    root = etree.fromstring(conference_schedule.schedule_xml(programme, BASE_URL))
    assert [t.get("color") for t in root.iterfind("conference/track")] == [
        c.color for c in programme.categories.values()]
    assert root.findtext("conference/days") == "7"
    for room in root.iterfind("day/room"):
        assert room.get("guid") == rooms[room.get("name")]["guid"]
        for event in room.iterfind("event"):
            assert event.findtext("room") == room.get("name")


def test_hosts_are_the_same_person_across_events(tmp_path):
    document = conference_schedule.schedule_dict(hostile_programme(tmp_path), BASE_URL)
    governor = {p["guid"] for e in json_events(document) for p in e["persons"]
                if p["name"] == "فرماندار"}
    assert len(governor) == 1
    root = etree.fromstring(conference_schedule.schedule_xml(hostile_programme(tmp_path),
                                                             BASE_URL))
    ids = {p.get("id") for p in root.iter("person") if p.text == "فرماندار"}
    assert len(ids) == 1 and int(ids.pop()) > 0


def test_rooms_for_inline_venues_and_events_without_a_venue(tmp_path):
    programme = hostile_programme(tmp_path)
    document = conference_schedule.schedule_dict(programme, BASE_URL)
    by_event = {EVENT_URL.search(e["url"])["event"]: e for e in json_events(document)}
    # An inline venue named like a defined one is the same room.
    assert by_event["hostile"]["room"] == by_event["same-hall-inline"]["room"] == \
        "سالن اجتماعات"
    # No venue: the programme's own room.
    assert by_event["nowhere"]["room"] == programme.title
    names = [room["name"] for room in document["schedule"]["conference"]["rooms"]]
    assert names == ["سالن اجتماعات", programme.title]
    # Each day lists only the rooms in use that day.
    days = document["schedule"]["conference"]["days"]
    assert list(days[0]["rooms"]) == ["سالن اجتماعات"]
    assert list(days[1]["rooms"]) == [programme.title]


def test_cancelled_and_tentative_events(tmp_path):
    document = conference_schedule.schedule_dict(hostile_programme(tmp_path), BASE_URL)
    events = json_events(document)
    called_off, = [e for e in events if "/called-off/" in e["url"]]
    assert called_off["title"] == "لغو شد: رژه"
    maybe = [e for e in events if "/maybe/" in e["url"]]
    assert len(maybe) == 2
    assert {e["subtitle"] for e in maybe} == {"هنوز قطعی نیست"}
    assert {e["title"] for e in maybe} == {"بازدید"}
    nowhere, = [e for e in events if "/nowhere/" in e["url"]]
    assert nowhere["subtitle"] == ""


# -- stable identifiers -------------------------------------------------------------

def test_guids_are_stable_across_loads_and_distinct(tmp_path):
    first = json_events(conference_schedule.schedule_dict(load(SAMPLE), BASE_URL))
    copy_path = tmp_path / "copy.yaml"
    shutil.copy(SAMPLE, copy_path)
    second = json_events(conference_schedule.schedule_dict(load(copy_path), BASE_URL))
    assert [(e["guid"], e["id"], e["slug"]) for e in first] == \
        [(e["guid"], e["id"], e["slug"]) for e in second]
    assert len({e["guid"] for e in first}) == len({e["id"] for e in first}) == len(first)
    assert all(uuid.UUID(e["guid"]).version == 5 for e in first)
    assert all(0 < e["id"] < 2 ** 31 for e in first)


def test_guid_is_derived_from_the_calendar_uid():
    programme = load(SAMPLE)
    events = json_events(conference_schedule.schedule_dict(programme, BASE_URL))
    guids = {e["guid"] for e in events}
    expected = {str(uuid.uuid5(conference_schedule.NAMESPACE, uid(programme.id, occ.key)))
                for occ in programme.occurrences()}
    assert guids == expected


def test_ids_do_not_depend_on_position(tmp_path):
    """Adding an event at the top of the file changes no other event's guid or id."""
    text = SAMPLE.read_text(encoding="utf-8")
    added = text.replace("events:\n", """events:
  - id: opening
    title: آیین آغاز هفته
    category: ceremony
    date: 1404-06-11
    start: "07:00"
    end: "07:30"
""", 1)
    path = tmp_path / "edited.yaml"
    path.write_text(added, encoding="utf-8")

    def identities(programme):
        return {(EVENT_URL.search(e["url"])["event"], e["date"]): (e["guid"], e["id"])
                for e in json_events(conference_schedule.schedule_dict(programme, BASE_URL))}

    before, after = identities(load(SAMPLE)), identities(load(path))
    assert len(after) == len(before) + 1
    assert {key: after[key] for key in before} == before


def test_integer_ids_resolve_clashes_whatever_the_order():
    modulus = 2 ** 31 - 1
    clashing = [uuid.UUID(int=7), uuid.UUID(int=7 + modulus), uuid.UUID(int=8)]
    numbers = conference_schedule.integer_ids(clashing)
    assert len(set(numbers.values())) == 3
    assert numbers == conference_schedule.integer_ids(list(reversed(clashing)))
    assert numbers[uuid.UUID(int=7)] == 8  # the plain derivation where there is no clash


def test_output_is_deterministic():
    programme = load(SAMPLE)
    assert conference_schedule.schedule_json(programme, BASE_URL) == \
        conference_schedule.schedule_json(load(SAMPLE), BASE_URL)
    assert conference_schedule.schedule_xml(programme, BASE_URL) == \
        conference_schedule.schedule_xml(load(SAMPLE), BASE_URL)


# -- escaping ------------------------------------------------------------------------------

def test_markup_in_titles_stays_text(tmp_path):
    programme = hostile_programme(tmp_path)
    raw_json = conference_schedule.schedule_json(programme, BASE_URL)
    event, = [e for e in json_events(json.loads(raw_json)) if "/hostile/" in e["url"]]
    assert event["title"] == HOSTILE_TITLE
    assert event["description"] == "</description><script>x</script>"
    assert event["persons"][0]["name"] == "A & B <img src=x onerror=alert(1)>"
    assert event["links"] == [{"type": "web", "url": "https://example.ir/?a=1&b=2",
                               "title": "https://example.ir/?a=1&b=2"}]

    raw_xml = conference_schedule.schedule_xml(programme, BASE_URL)
    assert b"<script>" not in raw_xml and b"<img" not in raw_xml
    root = etree.fromstring(raw_xml)
    assert not list(root.iter("script", "img", "b", "i"))
    element = root.find("day/room/event")
    assert element.findtext("title") == HOSTILE_TITLE
    assert element.findtext("description") == "</description><script>x</script>"
    assert element.find("persons/person").text == "A & B <img src=x onerror=alert(1)>"
    assert element.find("links/link").get("href") == "https://example.ir/?a=1&b=2"
    assert root.findtext("conference/title") == "هفته تعاون <b>&</b>"
    assert root.find("conference/track").get("name") == "نشست <i>"


def test_control_characters_do_not_break_the_xml(tmp_path):
    """YAML's double-quoted escapes can put characters XML 1.0 forbids into any text. The
    loader refuses them (control-character); the XML writer stands on its own all the
    same, for a model made in any other way."""
    import dataclasses
    text = HOSTILE.replace('title: "هفته تعاون <b>&</b>"', 'title: "هفته\\x01 تعاون"')
    path = tmp_path / "hostile-1404.yaml"
    path.write_text(text, encoding="utf-8")
    assert "control-character" in {p.code for p in load_file(path).errors}

    path.write_text(HOSTILE, encoding="utf-8")
    programme = load(path)
    hostile = programme.event("hostile")
    category = dataclasses.replace(hostile.category, label="نشست\x0bها")
    venue = dataclasses.replace(hostile.venue, name="سالن\x1f اجتماعات")
    hostile = dataclasses.replace(hostile, category=category, venue=venue,
                                  hosts=("A\x02B",), description="یک\x00دو")
    programme = dataclasses.replace(
        programme, title="هفته\x01 تعاون",
        events=(hostile,) + tuple(e for e in programme.events if e.id != "hostile"),
        categories={**programme.categories, category.id: category},
        venues={**programme.venues, venue.id: venue})
    root = etree.fromstring(conference_schedule.schedule_xml(programme, BASE_URL))
    assert root.findtext("conference/title") == "هفته\ufffd تعاون"
    assert root.find("conference/track").get("name") == "نشست\ufffdها"
    event = root.find("day/room/event")
    assert event.findtext("description") == "یک\ufffdدو"
    assert event.find("persons/person").text == "A\ufffdB"
    assert root.find("day/room").get("name") == "سالن\ufffd اجتماعات"
    # JSON can carry them escaped: there they stay as written.
    document = json.loads(conference_schedule.schedule_json(programme, BASE_URL))
    assert document["schedule"]["conference"]["title"] == "هفته\x01 تعاون"


# -- routes --------------------------------------------------------------------------

@pytest.mark.parametrize("kind, content_type", [
    ("json", "application/json; charset=utf-8"),
    ("xml", "application/xml; charset=utf-8"),
])
def test_routes_serve_the_schedule(client, app, kind, content_type):
    response = client.get(f"/khalilabad-1404/schedule.{kind}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    programme = get_registry(app).get("khalilabad-1404")
    build = getattr(conference_schedule, f"schedule_{kind}")
    assert response.data == build(programme, "https://hafte.example.ir")
    etag = response.headers["ETag"]
    assert etag

    again = client.get(f"/khalilabad-1404/schedule.{kind}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["Access-Control-Allow-Origin"] == "*"


def test_json_route_body_is_valid(client, json_schema, xml_schema):
    document = client.get("/khalilabad-1404/schedule.json").get_json()
    assert schema_errors(json_schema, document) == []
    assert document["schedule"]["base_url"] == "https://hafte.example.ir/khalilabad-1404/"
    root = etree.fromstring(client.get("/khalilabad-1404/schedule.xml").data)
    assert xml_schema.validate(root), [str(e) for e in xml_schema.error_log]


def test_etag_follows_the_programme_version(client, schedules_dir):
    first = client.get("/khalilabad-1404/schedule.json")
    path = schedules_dir / SAMPLE.name
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("title: تجلیل از تعاونی‌های برتر",
                                 "title: تجلیل از تعاونی‌های برتر استان"), encoding="utf-8")
    second = client.get("/khalilabad-1404/schedule.json",
                        headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    titles = {e["title"] for e in json_events(second.get_json())}
    assert "تجلیل از تعاونی‌های برتر استان" in titles
    xml = client.get("/khalilabad-1404/schedule.xml")
    assert xml.headers["ETag"] != first.headers["ETag"]  # each format its own tag


def test_unknown_draft_and_deleted_programmes(client, schedules_dir):
    assert client.get("/no-such-week/schedule.json").status_code == 404
    assert client.get("/no-such-week/schedule.xml").status_code == 404
    shutil.copy(DATA / "good" / "other-timezone.yaml", schedules_dir / "kabul.yaml")
    assert client.get("/kabul-1404/schedule.json").status_code == 404  # a draft
    assert client.get("/kabul-1404/schedule.xml").status_code == 404
    assert client.get("/khalilabad-1404/schedule.json").status_code == 200
    (schedules_dir / SAMPLE.name).unlink()
    gone = client.get("/khalilabad-1404/schedule.json")
    assert gone.status_code == 410
    assert gone.headers["Access-Control-Allow-Origin"] == "*"
