"""The demonstration programme of ``week-planner serve --demo``: valid at any hour of any
day, with something happening now and a reminder due within minutes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from week_planner.reminders.planning import Subscriber, plan
from week_planner.schedule.demo import DEMO_ID, demo_schedule
from week_planner.schedule.loading import load_text
from week_planner.schedule.registry import Registry

UTC = dt.timezone.utc


@settings(max_examples=150, deadline=None)
@given(st.datetimes(min_value=dt.datetime(2022, 1, 1), max_value=dt.datetime(2040, 12, 31),
                    timezones=st.just(UTC)))
def test_the_demo_is_alive_at_any_moment(now):
    result = load_text(demo_schedule(now), "demo.yaml")
    assert result.ok and result.problems == [], [p.format("en") for p in result.problems]
    programme = result.programme
    assert programme.id == DEMO_ID and "نمایشی" in programme.title
    occurrences = [o for event in programme.events for o in event.occurrences]
    assert any(o.start <= now < o.end and not o.all_day for o in occurrences)
    assert any(o.end <= now for o in occurrences)  # one that is over
    reminders = plan(programme, [Subscriber(1, DEMO_ID, "programme", "email", "a@b.ir")])
    assert any(now < item.due_at <= now + dt.timedelta(minutes=15) for item in reminders)
    assert programme.first_day <= now.astimezone(ZoneInfo("Asia/Tehran")).date() \
        <= programme.last_day


def test_the_registry_serves_an_extra_file_beside_the_folder(tmp_path):
    folder = tmp_path / "schedules"
    folder.mkdir()
    demo = tmp_path / "instance" / "demo-week.yaml"
    demo.parent.mkdir()
    demo.write_text(demo_schedule(dt.datetime.now(UTC)), encoding="utf-8")
    registry = Registry(folder, interval=0, extra_files=[demo])
    assert [programme.id for programme in registry.programmes()] == [DEMO_ID]
    assert list(folder.iterdir()) == []
    demo.unlink()  # gone with its file, like any other
    assert registry.is_gone(DEMO_ID)
