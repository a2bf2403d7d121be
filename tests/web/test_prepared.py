"""Prepared responses (web/prepared.py): an unchanged page or feed answered from memory is
byte for byte what Flask answers, and changes exactly when Flask's answer changes.

Each test asks Flask first (the layer is emptied), then the layer, and compares; "now" is
pinned through ``app.config["CLOCK"]``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from clocks import ManualClock as Clock
from week_planner import store
from week_planner.publish.feed_service import feed_service
from week_planner.tokens import make_my_token
from week_planner.web.pages import page_cache
from week_planner.web.prepared import prepared_responses

TEHRAN = ZoneInfo("Asia/Tehran")
UTC = dt.timezone.utc
SAMPLE_NAME = "khalilabad-1404.yaml"
P = "/khalilabad-1404"
PATHS = ["/", f"{P}/", f"{P}/categories/visit/", f"{P}/events/peoples-visits/", f"{P}.ics",
         f"{P}/categories/visit.ics", f"{P}/events/peoples-visits.ics", f"{P}/schedule.json",
         f"{P}/schedule.xml", f"{P}/changes/", f"{P}/changes.atom"]



@pytest.fixture
def clock(app) -> Clock:
    found = Clock(dt.datetime(2025, 9, 6, 10, 0, tzinfo=TEHRAN))
    app.config["CLOCK"] = found
    return found


def headers_of(response) -> list[tuple[str, str]]:
    return [(name, value) for name, value in response.headers if name != "Date"]


def rewrite_sample(schedules_dir: Path, old: str, new: str) -> None:
    path = schedules_dir / SAMPLE_NAME
    text = path.read_text(encoding="utf-8")
    assert old in text
    before = path.stat().st_mtime_ns
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))


def from_flask_then_memory(app, client, path: str, headers=None, method="GET"):
    """(Flask's answer, the layer's answer) to the same request."""
    layer = prepared_responses(app)
    layer.clear()
    hits = layer.hits
    first = client.open(path, method=method, headers=headers or {})
    assert layer.hits == hits, f"{path} was not answered by Flask"
    second = client.open(path, method=method, headers=headers or {})
    assert layer.hits == hits + 1, f"{path} was not answered from memory"
    return first, second


@pytest.mark.parametrize("path", [*PATHS, "personal"])
def test_an_answer_from_memory_is_flasks_answer(app, client, clock, path):
    if path == "personal":
        path = f"{P}/my/{make_my_token(app, 'khalilabad-1404', ['peoples-visits'])}.ics"
    flask, memory = from_flask_then_memory(app, client, path)
    assert flask.status_code == memory.status_code == 200
    assert flask.data == memory.data and len(memory.data) > 0
    assert headers_of(flask) == headers_of(memory)
    etag = memory.headers["ETag"]
    for conditional in ({"If-None-Match": etag},
                        {"If-Modified-Since": memory.headers["Last-Modified"]}):
        flask, memory = from_flask_then_memory(app, client, path, conditional)
        assert flask.status_code == memory.status_code == 304
        assert memory.data == b""
        assert headers_of(flask) == headers_of(memory)
    flask, memory = from_flask_then_memory(app, client, path, method="HEAD")
    assert memory.status_code == 200 and memory.data == b""
    assert headers_of(flask) == headers_of(memory)


@pytest.mark.parametrize("headers, status", [
    ({"If-None-Match": "ETAG"}, 304),
    ({"If-None-Match": "W/ETAG"}, 304),  # If-None-Match compares weakly
    ({"If-None-Match": '"other", ETAG'}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"other"'}, 200),
    # A non-empty If-None-Match decides alone, even with a matching If-Modified-Since.
    ({"If-None-Match": '"other"', "If-Modified-Since": "LAST"}, 200),
    ({"If-Modified-Since": "Tue, 01 Dec 2099 10:00:00 GMT"}, 304),
    ({"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200),
    ({"If-Modified-Since": "not a date"}, 200),
])
def test_conditional_requests_from_memory_follow_werkzeug(app, client, clock, headers, status):
    first = client.get(f"{P}.ics")
    headers = {name: value.replace("ETAG", first.headers["ETag"])
               .replace("LAST", first.headers["Last-Modified"])
               for name, value in headers.items()}
    flask, memory = from_flask_then_memory(app, client, f"{P}.ics", headers)
    assert flask.status_code == memory.status_code == status


@pytest.mark.parametrize("headers", [{"If-Match": '"other"'}, {"Range": "bytes=0-9"}])
def test_if_match_and_range_go_to_flask(app, client, clock, headers):
    client.get(f"{P}.ics")
    layer = prepared_responses(app)
    hits = layer.hits
    answer = client.get(f"{P}.ics", headers=headers)
    assert layer.hits == hits
    assert answer.status_code in (200, 412)


def test_a_query_string_goes_to_flask(app, client, clock):
    client.get(f"{P}/")
    layer = prepared_responses(app)
    hits = layer.hits
    assert client.get(f"{P}/?preview=not-a-key").status_code == 200
    assert layer.hits == hits


def test_no_sql_no_render_no_build_for_an_answer_from_memory(app, client, clock):
    statements = []
    engine = store.app_engine(app)
    event.listen(engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    for path in PATHS:
        assert client.get(path).status_code == 200
    assert statements, "the listener sees the statements Flask's answers run"
    statements.clear()
    renders, builds = page_cache(app).renders, feed_service(app).builds
    hits = prepared_responses(app).hits
    for path in PATHS:
        etag = client.get(path).headers["ETag"]
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert prepared_responses(app).hits == hits + 2 * len(PATHS)
    assert statements == []
    assert (page_cache(app).renders, feed_service(app).builds) == (renders, builds)


def test_an_edited_file_changes_the_etag_at_once(app, client, clock, schedules_dir):
    before = {path: client.get(path) for path in (f"{P}/", f"{P}.ics")}
    for path in before:
        client.get(path)  # from memory now
    rewrite_sample(schedules_dir, "title: تجلیل از تعاونی‌های برتر",
                   "title: تجلیل از تعاونی‌های نمونه")
    for path, old in before.items():
        new = client.get(path, headers={"If-None-Match": old.headers["ETag"]})
        assert new.status_code == 200
        assert new.headers["ETag"] != old.headers["ETag"]
        assert "تجلیل از تعاونی‌های نمونه" in new.get_data(as_text=True)


def test_a_deleted_file_answers_410_at_once(app, client, clock, schedules_dir):
    assert client.get(f"{P}/").status_code == 200
    assert client.get(f"{P}/").status_code == 200
    (schedules_dir / SAMPLE_NAME).unlink()
    assert client.get(f"{P}/").status_code == 410


@pytest.mark.parametrize("path", [f"{P}/", f"{P}/categories/visit/",
                                  f"{P}/events/cooperative-visits/"])
def test_the_page_changes_the_instant_an_event_starts(app, client, clock, path):
    # The visits start at 09:00 on 1404-06-15.
    clock.moment = dt.datetime(2025, 9, 6, 8, 59, 59, 999999, tzinfo=TEHRAN)
    before, again = from_flask_then_memory(app, client, path)
    assert before.data == again.data and "is-now" not in before.get_data(as_text=True)
    clock.moment = dt.datetime(2025, 9, 6, 9, 0, tzinfo=TEHRAN)
    started = client.get(path, headers={"If-None-Match": before.headers["ETag"]})
    assert started.status_code == 200
    assert started.headers["ETag"] != before.headers["ETag"]
    assert "در حال برگزاری" in started.get_data(as_text=True)
    # A clock set back is answered as Flask answers it, not with the later page.
    clock.moment = dt.datetime(2025, 9, 6, 8, 30, tzinfo=TEHRAN)
    assert client.get(path).headers["ETag"] == before.headers["ETag"]


def test_the_countdown_changes_at_midnight(app, client, clock):
    clock.moment = dt.datetime(2025, 8, 30, 23, 59, 59, tzinfo=TEHRAN)
    eve, again = from_flask_then_memory(app, client, f"{P}/")
    clock.moment = dt.datetime(2025, 8, 31, 0, 0, tzinfo=TEHRAN)
    next_day = client.get(f"{P}/")
    assert next_day.headers["ETag"] != eve.headers["ETag"]
    assert "۲</strong> روز تا آغاز" in next_day.get_data(as_text=True)


def test_the_feed_changes_the_instant_the_week_starts(app, client, clock):
    clock.moment = dt.datetime(2025, 9, 1, 23, 59, 59, tzinfo=TEHRAN)
    before, again = from_flask_then_memory(app, client, f"{P}.ics")
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT6H" in again.data
    clock.moment = dt.datetime(2025, 9, 2, 0, 0, tzinfo=TEHRAN)
    during = client.get(f"{P}.ics", headers={"If-None-Match": before.headers["ETag"]})
    assert during.status_code == 200
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in during.data


def test_a_cancelled_event_leaves_the_feed_when_its_retention_ends(app, client, clock,
                                                                   schedules_dir):
    clock.moment = dt.datetime(2025, 8, 1, 12, 0, tzinfo=UTC)
    client.get(f"{P}.ics")
    text = (schedules_dir / SAMPLE_NAME).read_text(encoding="utf-8")
    start = text.index("  - id: martyrs-tribute")
    end = text.index("  - id:", start + 1)
    rewrite_sample(schedules_dir, text[start:end], "")
    removed = client.get(f"{P}.ics").data
    assert b"UID:khalilabad-1404/martyrs-tribute@week-planner" in removed
    retention = dt.timedelta(days=app.config["CANCELLED_RETENTION_DAYS"])
    clock.moment += retention - dt.timedelta(seconds=1)
    kept, again = from_flask_then_memory(app, client, f"{P}.ics")
    assert b"martyrs-tribute" in again.data
    clock.moment += dt.timedelta(seconds=1)
    assert b"martyrs-tribute" not in client.get(f"{P}.ics").data


def test_answers_from_memory_are_counted_and_logged(app, client, clock, caplog):
    token = make_my_token(app, "khalilabad-1404", ["peoples-visits"])
    personal = f"{P}/my/{token}.ics"
    with caplog.at_level(logging.INFO, logger="week_planner.requests"):
        etag = client.get(personal).headers["ETag"]  # Flask
        for _ in range(3):
            client.get(personal)  # memory
        client.get(personal, headers={"If-None-Match": etag})
        client.get(f"{P}/")
        client.get(f"{P}/")
    lines = [re.sub(r" [\d.]+ms$", "", record.getMessage()) for record in caplog.records
             if record.name == "week_planner.requests"]
    assert lines == [f"127.0.0.1 GET {P}/my/[token].ics 200"] * 4 + [
        f"127.0.0.1 GET {P}/my/[token].ics 304", f"127.0.0.1 GET {P}/ 200",
        f"127.0.0.1 GET {P}/ 200"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'week_planner_requests_total{kind="feed",status="200"} 4.0' in metrics
    assert 'week_planner_requests_total{kind="feed",status="304"} 1.0' in metrics
    assert 'week_planner_feed_requests_total{status="200"} 4.0' in metrics
    assert 'week_planner_requests_total{kind="page",status="200"} 2.0' in metrics


def test_an_edit_of_another_programme_leaves_this_ones_answers_in_memory(app, client, clock,
                                                                         schedules_dir):
    sample = (schedules_dir / SAMPLE_NAME).read_text(encoding="utf-8")
    other = schedules_dir / "other.yaml"
    other.write_text(sample.replace("id: khalilabad-1404", "id: other-1404"), encoding="utf-8")
    kept = [f"{P}/", f"{P}.ics", f"{P}/schedule.json", f"{P}/changes/"]
    before = {path: client.get(path) for path in [*kept, "/"]}
    assert b"other-1404" in before["/"].data
    layer = prepared_responses(app)
    hits = layer.hits
    stat = other.stat()
    other.write_text(sample.replace("id: khalilabad-1404", "id: other-1404")
                     .replace("title: هفته تعاون ۱۴۰۴ شهرستان خلیل‌آباد", "title: برنامهٔ دیگر"),
                     encoding="utf-8")
    os.utime(other, ns=(stat.st_mtime_ns + 10**9, stat.st_mtime_ns + 10**9))
    index = client.get("/")
    assert layer.hits == hits and "برنامهٔ دیگر" in index.get_data(as_text=True)
    for path in kept:
        assert client.get(path).data == before[path].data
    assert layer.hits == hits + len(kept)
