"""Reminders in one process: planning, reconciliation, sending to a real SMTP server
(aiosmtpd on loopback) over a real SQLite file, with the clock injected."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from reminder_helpers import ShiftClock, SmtpServer, free_port
from sqlalchemy import select

from clocks import ManualClock
from week_planner import create_app
from week_planner.reminders import mail
from week_planner.reminders import outbox as engine
from week_planner.reminders.delivery import DeliveryError
from week_planner.reminders.mail import SmtpTransport, build_confirmation
from week_planner.reminders.outbox import _finish, claim, due_query, reconcile
from week_planner.reminders.planning import Subscriber, channel_target, plan
from week_planner.reminders.scheduler import start_background
from week_planner.reminders.sending import Reminders
from week_planner.reminders.subscribers import add_subscriber, remove_subscribers
from week_planner.schedule.loading import load_text
from week_planner.store import reminder_outbox, subscribers

UTC = dt.timezone.utc
TEHRAN = ZoneInfo("Asia/Tehran")
PROGRAMME = "khalilabad-1404"
# think-tank: 1404-06-16 16:00 Tehran = 2025-09-07 12:30 UTC; reminders 1d and 2h.
THINK_TANK = dt.datetime(2025, 9, 7, 16, 0, tzinfo=TEHRAN)
EARLY = dt.datetime(2025, 9, 1, 12, 0, tzinfo=UTC)  # before every reminder of the week



@pytest.fixture
def app(tmp_path, schedules_dir, smtp, database_url):
    """On a SQLite file and on PostgreSQL (``database_url`` from conftest)."""
    app = create_app({
        "TESTING": True, "SCHEDULES_DIR": str(schedules_dir), "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir", "SMTP_URL": smtp.url,
        "MAIL_FROM": "هفته تعاون <hafte@khalilabad.example.ir>",
        "RETRY_DELAYS": [1, 2], "REMINDER_SWEEP_INTERVAL": 1.0,
    })
    yield app
    engine = app.extensions.get("week_planner.engine")
    if engine is not None:
        engine.dispose()


def subscribe(reminders: Reminders, address: str, scope: str = "event:think-tank",
              channel: str = "email") -> int:
    subscriber_id, _ = add_subscriber(reminders.engine, PROGRAMME, scope, channel, address,
                                      "organiser", reminders.clock(), confirmed=True)
    return subscriber_id


def outbox(reminders: Reminders, **where) -> list:
    query = select(reminder_outbox).order_by(reminder_outbox.c.id)
    for name, value in where.items():
        query = query.where(reminder_outbox.c[name] == value)
    with reminders.engine.connect() as connection:
        return connection.execute(query).all()


def edit_schedule(schedules_dir: Path, old: str, new: str) -> None:
    path = schedules_dir / "khalilabad-1404.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    before = path.stat().st_mtime_ns
    path.write_text(text.replace(old, new), encoding="utf-8")
    # an edit of the same size must still look new, whatever the clock's resolution
    os.utime(path, ns=(before + 10**9, before + 10**9))


# -- planning ------------------------------------------------------------------------------

def test_plan_uses_event_then_category_offsets_and_all_day_hour():
    result = load_text("""\
programme:
  id: p
  title: آزمون
  organiser: اداره
  timezone: Asia/Tehran
  from: 1404-06-11
  to: 1404-06-12
categories:
  visit: {label: بازدید, reminders: [1d, 1h]}
  desk: {label: میز خدمت}
events:
  - {id: a, title: بازدید, category: visit, date: 1404-06-11, start: "09:00", end: "10:00"}
  - {id: b, title: بازدید کوتاه, category: visit, date: 1404-06-11, start: "11:00",
     end: "12:00", reminders: [30m]}
  - {id: c, title: میز خدمت, category: desk, date: 1404-06-12, all_day: true,
     reminders: [1d]}
  - {id: d, title: میز دوم, category: desk, date: 1404-06-12, all_day: true}
""")
    assert result.ok, [p.format("en") for p in result.problems]
    programme = result.programme
    everyone = [Subscriber(1, "p", "programme", "email", "x@example.org")]
    wanted = plan(programme, everyone, all_day_hour=9)
    due = sorted((w.event_id, w.due_at.astimezone(TEHRAN).strftime("%m-%d %H:%M"))
                 for w in wanted)
    # 1404-06-11 = 2025-09-02. c is all-day on 09-03: "1d" counts from 09:00 of its day.
    assert due == [("a", "09-01 09:00"), ("a", "09-02 08:00"), ("b", "09-02 10:30"),
                   ("c", "09-02 09:00")]


DST_PROGRAMME = """\
programme:
  id: dst-1398
  title: آزمون
  organiser: اداره
  timezone: Asia/Tehran
  from: 1398-06-30
  to: 1398-06-31
categories:
  meeting: {label: نشست}
events:
  - {id: morning, title: نشست, category: meeting, date: 1398-06-31, start: "10:00",
     end: "11:00", reminders: [1d]}
  - {id: night, title: نشست شبانه, category: meeting, date: 1398-06-31, start: "00:30",
     end: "01:30", reminders: [2h]}
"""


def test_offsets_are_exact_durations_across_a_daylight_saving_change(app, schedules_dir):
    # Tehran put its clocks back an hour at the end of 1398-06-30 (UTC+04:30 → +03:30).
    # A "1d" reminder of a 10:00 meeting on 06-31 is due exactly 24 h before (11:00 of
    # the 30th on that day's clock, not 10:00, which is 25 h), and "2h" before 00:30 is
    # 2 h before, across the hour the clocks repeat. The feed's alarms say the same.
    (schedules_dir / "dst-1398.yaml").write_text(DST_PROGRAMME, encoding="utf-8")
    programme = load_text(DST_PROGRAMME).programme
    wanted = {w.event_id: w for w in plan(
        programme, [Subscriber(1, "dst-1398", "programme", "email", "x@example.org")])}
    for event_id, hours in (("morning", 24), ("night", 2)):
        item = wanted[event_id]
        assert item.occurrence_start - item.due_at == dt.timedelta(hours=hours)
    assert wanted["morning"].due_at == dt.datetime(2019, 9, 21, 6, 30, tzinfo=UTC)

    feed = icalendar.Calendar.from_ical(app.test_client().get("/dst-1398.ics").data)
    for vevent in feed.walk("VEVENT"):
        event_id = str(vevent["uid"]).split("/")[1].split("@")[0]
        [alarm] = vevent.walk("VALARM")
        alarm_at = vevent.decoded("dtstart").astimezone(UTC) + alarm.decoded("trigger")
        assert alarm_at == wanted[event_id].due_at, event_id


def test_plan_keys_are_stable_and_one_per_address():
    programme = load_text((Path(__file__).resolve().parents[2] / "schedules" /
                           "khalilabad-1404.yaml").read_bytes()).programme
    subs = [Subscriber(1, PROGRAMME, "programme", "email", "a@example.org"),
            Subscriber(2, PROGRAMME, "event:think-tank", "email", "a@example.org"),
            Subscriber(3, PROGRAMME, "category:parade", "sms", "09121234567")]
    channels = {"organisers": ["tgram://bot/chat", "json://127.0.0.1/hook"]}
    first = plan(programme, subs, channels=channels)
    second = plan(programme, list(reversed(subs)), channels=channels)
    assert sorted(w.key for w in first) == sorted(w.key for w in second)
    assert len({w.key for w in first}) == len(first)
    think_tank = [w for w in first if w.event_id == "think-tank"]
    # one address subscribed twice gets each reminder once; each URL of the organisers'
    # channel gets its own (named by a digest: the URL's tokens stay out of the database)
    telegram, webhook = (channel_target("organisers", url) for url in channels["organisers"])
    assert telegram != webhook and "bot" not in telegram
    assert sorted((w.channel, w.recipient, w.offset_seconds) for w in think_tank) == sorted([
        ("apprise", telegram, 7200), ("apprise", telegram, 86400),
        ("apprise", webhook, 7200), ("apprise", webhook, 86400),
        ("email", "a@example.org", 7200), ("email", "a@example.org", 86400)])
    parade = {(w.channel, w.recipient) for w in first if w.event_id == "taxi-parade"}
    assert ("sms", "09121234567") in parade
    # without a channels file entry, notify: names plan nothing
    assert not [w for w in plan(programme, subs) if w.channel == "apprise"]


def test_reconcile_twice_inserts_once(app):
    reminders = Reminders(app, ManualClock(EARLY))
    subscribe(reminders, "a@example.org", scope="programme")
    first = reminders.reconcile()
    second = reminders.reconcile()
    assert first.inserted > 0 and first.inserted == len(outbox(reminders))
    assert (second.inserted, second.cancelled, second.notices) == (0, 0, 0)


# -- sending -------------------------------------------------------------------------------

def test_reminder_arrives_once_on_time_with_persian_content_and_ics(app, smtp):
    """Both reminders of think-tank: the 1 d one was due while the process was down and
    goes out at start; the 2 h one arrives within 2 s of its due time, once."""
    due = THINK_TANK - dt.timedelta(hours=2)
    clock = ShiftClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "participant@example.org")
    reminders.reconcile()
    clock.set(due - dt.timedelta(seconds=1.5))
    scheduler = start_background(app, clock=clock)
    try:
        assert smtp.mailbox.wait_for(2, timeout=10)
        time.sleep(1.0)  # nothing more may come
    finally:
        scheduler.shutdown()
    assert smtp.mailbox.count() == 2
    arrived_at = dt.datetime.fromtimestamp(smtp.mailbox.messages[1][0], UTC) + clock.shift
    lateness = (arrived_at - due).total_seconds()
    assert 0 <= lateness <= 2, lateness

    late, on_time = smtp.mailbox.parsed()
    rows = {row.offset_seconds: row for row in outbox(reminders)}
    assert {row.status for row in rows.values()} == {"sent"}
    assert on_time["Message-ID"] == mail.message_id(rows[7200].key, app.config["MAIL_FROM"])
    assert late["Message-ID"] == mail.message_id(rows[86400].key, app.config["MAIL_FROM"])
    assert on_time["Subject"] == ("یادآوری: نشست هم\u200cاندیشی مدیران تعاونی\u200cها — "
                                  "یکشنبه ۱۶ شهریور ۱۴۰۴، ساعت ۱۶:۰۰")
    assert on_time["To"] == "participant@example.org"
    assert on_time["List-Unsubscribe"].strip().startswith("<https://hafte.example.ir/remind/unsubscribe/")
    assert on_time["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = on_time["List-Unsubscribe"].strip()[1:-1].removeprefix("https://hafte.example.ir")
    assert app.test_client().post(one_click, data={"List-Unsubscribe": "One-Click"}) \
        .status_code == 200
    with reminders.engine.connect() as connection:
        assert connection.execute(select(subscribers)).all() == []

    text = on_time.get_body(("plain",)).get_content()
    html = on_time.get_body(("html",)).get_content()
    for part in (text, html):
        assert "نشست هم\u200cاندیشی مدیران تعاونی\u200cها" in part
        assert "یکشنبه ۱۶ شهریور ۱۴۰۴" in part
        assert "۱۶:۰۰ تا ۱۸:۰۰" in part and "16:00" not in part
        assert "UTC+۰۳:۳۰" in part
        assert "سالن اجتماعات فرمانداری" in part
        assert "خلیل\u200cآباد، خیابان امام خمینی، فرمانداری شهرستان" in part
        assert "https://hafte.example.ir/khalilabad-1404/events/think-tank/" in part
        assert "openstreetmap.org/?mlat=35.2553&amp;mlon=58.2866" in part or \
            "openstreetmap.org/?mlat=35.2553&mlon=58.2866" in part
        assert "participant@example.org" not in part
    assert "۲ ساعت تا آغاز" in text
    assert '<html lang="fa" dir="rtl">' in html
    # the late one says how long is really left, not "1 day"
    late_text = late.get_body(("plain",)).get_content()
    assert "۲ ساعت تا آغاز" in late_text and "روز" not in late_text

    attachment = next(part for part in on_time.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "think-tank.ics"
    assert attachment.get_content_charset() == "utf-8"
    ics = attachment.get_payload(decode=True)
    assert b"\r\n" in ics
    # a calendar to add, not an iTIP message: no METHOD, so no MIME method (RFC 6047)
    assert attachment.get_param("method") is None and b"METHOD:" not in ics
    parsed = vobject.readOne(ics.decode("utf-8"))
    assert parsed.vevent.dtstart.value == THINK_TANK
    assert parsed.vevent.summary.value == "نشست هم\u200cاندیشی مدیران تعاونی\u200cها"
    event = icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]
    assert event.decoded("dtend") == THINK_TANK + dt.timedelta(hours=2)
    assert str(event["uid"]) == "khalilabad-1404/think-tank@week-planner"
    # It is the event's own feed, byte for byte: same SEQUENCE and VTIMEZONE as the
    # calendars that subscribed to it.
    assert ics == app.test_client().get("/khalilabad-1404/events/think-tank.ics").get_data()
    assert "SEQUENCE" in event


def test_smtp_down_then_up_delivers_everything_once(app):
    port = free_port()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    clock = ShiftClock(EARLY)
    reminders = Reminders(app, clock)
    for n in range(20):
        subscribe(reminders, f"p{n}@example.org")
    reminders.reconcile()
    clock.set(THINK_TANK - dt.timedelta(hours=2))
    scheduler = start_background(app, clock=clock)
    server = None
    try:
        time.sleep(2.5)
        rows = outbox(reminders, offset_seconds=7200)
        assert len(rows) == 20
        # (a retry may be under way at this very moment: "sending")
        assert all(row.status in ("pending", "sending") and row.attempts >= 1 for row in rows)
        assert all("unreachable" in (row.last_error or "") for row in rows
                   if row.status == "pending")
        server = SmtpServer(port=port).start()
        assert server.mailbox.wait_for(40, timeout=15)  # 1 d (late) and 2 h, 20 each
        time.sleep(1.5)
    finally:
        scheduler.shutdown()
        if server:
            server.stop()
    ids = [message["Message-ID"] for message in server.mailbox.parsed()]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert {row.status for row in outbox(reminders)} == {"sent"}


def test_temporary_refusal_is_retried_and_permanent_one_fails(app, smtp):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    clock.moment = THINK_TANK - dt.timedelta(days=1)
    smtp.mailbox.answer = "451 4.3.0 Try again later"
    assert reminders.send_due() == {"sent": 0, "retry": 1, "failed": 0, "cancelled": 0}
    (row,) = outbox(reminders, status="pending", offset_seconds=86400)
    assert row.last_error.startswith("SMTP 451") and row.attempts == 1
    assert row.next_attempt_at == clock.moment + dt.timedelta(seconds=1)
    assert reminders.send_due()["sent"] == 0  # not before the retry delay
    smtp.mailbox.answer = None
    clock.moment += dt.timedelta(seconds=1)
    assert reminders.send_due()["sent"] == 1
    assert smtp.mailbox.count() == 1

    clock.moment = THINK_TANK - dt.timedelta(hours=2)
    smtp.mailbox.answer = "550 5.1.1 No such user"
    assert reminders.send_due()["failed"] == 1
    clock.moment += dt.timedelta(minutes=30)
    assert reminders.send_due() == {"sent": 0, "retry": 0, "failed": 0, "cancelled": 0}
    (failed,) = outbox(reminders, offset_seconds=7200)
    assert failed.status == "failed" and failed.last_error.startswith("SMTP 550")
    assert smtp.mailbox.count() == 1


def test_reminder_due_while_down_after_start_is_missed(app, smtp):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    clock.moment = THINK_TANK + dt.timedelta(minutes=1)
    assert reminders.send_due()["sent"] == 0
    assert {row.status for row in outbox(reminders)} == {"missed"}
    assert smtp.mailbox.count() == 0


def test_claimed_row_of_a_dead_process_is_sent_after_its_lease(app, smtp):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    clock.moment = THINK_TANK - dt.timedelta(days=1)
    # The dead one shares host name and pid (containers with host networking, pid 1)
    dead = Reminders(app, clock)
    assert dead.worker.split(":")[:2] == reminders.worker.split(":")[:2]
    assert dead.worker != reminders.worker
    taken = claim(reminders.engine, clock.moment, 10, 60, dead.worker)  # and never finished
    assert len(taken) == 1
    assert reminders.send_due()["sent"] == 0
    clock.moment += dt.timedelta(seconds=61)
    assert reminders.send_due()["sent"] == 1
    (row,) = outbox(reminders, offset_seconds=86400)
    assert row.status == "sent" and row.attempts == 2 and row.sent_by == reminders.worker
    # the late word of the one that lost its lease changes nothing
    _finish(reminders.engine, row.id, dead.worker, status="failed", last_error="late")
    (row,) = outbox(reminders, offset_seconds=86400)
    assert (row.status, row.last_error) == ("sent", None)


def test_late_subscription_sends_only_the_latest_due_reminder(app, smtp):
    clock = ManualClock(THINK_TANK - dt.timedelta(hours=1))
    reminders = Reminders(app, clock)
    subscribe(reminders, "late@example.org")
    reminders.reconcile()
    assert reminders.send_due()["sent"] == 1
    statuses = {row.offset_seconds: (row.status, row.last_error) for row in outbox(reminders)}
    assert statuses[7200] == ("sent", None)
    assert statuses[86400][0] == "cancelled"


def test_all_day_reminder_due_on_its_day_is_sent_not_missed(app, smtp, schedules_dir):
    """An all-day event starts at midnight but its offsets count from 08:00, so its "2h"
    reminder is due at 06:00 of its own day: sent then, not marked missed."""
    edit_schedule(schedules_dir, "    all_day: true\n",
                  "    all_day: true\n    reminders: [1d, 2h]\n")
    desk_day = dt.datetime(2025, 9, 3, tzinfo=TEHRAN)  # service-desk, 1404-06-12
    clock = ManualClock(desk_day + dt.timedelta(hours=3))  # subscribed on the day
    reminders = Reminders(app, clock)
    reminders.registry.refresh(force=True)
    subscribe(reminders, "desk@example.org", scope="event:service-desk")
    assert reminders.reconcile().inserted == 1
    statuses = {row.offset_seconds: row.status for row in outbox(reminders)}
    assert statuses == {86400: "cancelled", 7200: "pending"}
    clock.moment = desk_day + dt.timedelta(hours=6)
    assert reminders.send_due()["sent"] == 1
    (message,) = smtp.mailbox.parsed()
    assert message["To"] == "desk@example.org"
    assert "۲ ساعت" in message.get_body(("plain",)).get_content()


# -- schedule changes ----------------------------------------------------------------------

def test_event_moved_reminds_at_new_time_only_with_one_notice(app, smtp, schedules_dir):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    edit_schedule(schedules_dir, "    reminders: [1d, 2h]\n    notify: [organisers]\n",
                  "    reminders: [2h]\n")
    reminders.registry.refresh(force=True)
    reminders.reconcile()
    edit_schedule(schedules_dir, 'id: think-tank\n    title: نشست هم‌اندیشی مدیران تعاونی‌ها\n'
                  '    category: meeting\n    date: 1404-06-16\n    start: "16:00"',
                  'id: think-tank\n    title: نشست هم‌اندیشی مدیران تعاونی‌ها\n'
                  '    category: meeting\n    date: 1404-06-16\n    start: "18:00"')
    reminders.registry.refresh(force=True)
    result = reminders.reconcile()
    assert (result.inserted, result.cancelled, result.notices) == (1, 1, 1)
    assert reminders.reconcile().notices == 0  # once

    assert reminders.send_due()["sent"] == 1
    (notice,) = smtp.mailbox.parsed()
    assert notice["Subject"] == "تغییر در برنامه: نشست هم\u200cاندیشی مدیران تعاونی\u200cها"
    # The event's calendar comes with it, at its new time and with SEQUENCE raised, so a
    # calendar that has it moves it (the same UID as the feeds).
    [attachment] = list(notice.iter_attachments())
    assert attachment.get_filename() == "think-tank.ics"
    moved = icalendar.Calendar.from_ical(attachment.get_payload(decode=True)).walk("VEVENT")[0]
    assert moved.decoded("dtstart") == THINK_TANK.replace(hour=18)
    assert str(moved["uid"]) == "khalilabad-1404/think-tank@week-planner"
    assert int(moved["sequence"]) >= 1
    text = notice.get_body(("plain",)).get_content()
    assert "۱۸:۰۰ تا ۲۰:۰۰" in text and "پیش‌تر: یکشنبه ۱۶ شهریور ۱۴۰۴، ۱۶:۰۰ تا ۱۸:۰۰" in text

    clock.moment = THINK_TANK - dt.timedelta(hours=2, seconds=-1)  # the old time
    assert reminders.send_due()["sent"] == 0
    clock.moment = THINK_TANK  # 18:00 - 2 h: the new time
    assert reminders.send_due()["sent"] == 1
    assert smtp.mailbox.count() == 2
    assert "۱۸:۰۰" in smtp.mailbox.parsed()[1]["Subject"]


def test_a_reconciliation_after_a_subscription_leaves_change_notices_to_the_scheduler(
        app, smtp, schedules_dir):
    """One made after a subscriber changed (a confirmation, 'subscribers add') may not know
    the organiser channels: it queues no notice and records no change, so that the
    scheduler's next one tells the move to subscribers and channels alike, once."""
    reminders = Reminders(app, ManualClock(EARLY))
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    edit_schedule(schedules_dir, 'category: meeting\n    date: 1404-06-16\n    start: "16:00"',
                  'category: meeting\n    date: 1404-06-16\n    start: "18:00"')
    reminders.registry.refresh(force=True)
    assert reminders.reconcile(subscriptions_only=True).notices == 0
    assert reminders.reconcile().notices >= 1
    assert reminders.reconcile().notices == 0


def test_a_programme_that_fails_in_planning_does_not_stop_the_others(app, smtp,
                                                                     schedules_dir,
                                                                     monkeypatch):
    # A second county whose planning raises (as a bad file's arithmetic once did): the
    # Khalilabad event that moves still gets its notice and its new reminder, the failing
    # programme keeps the rows it had, and /healthz names it.
    (schedules_dir / "other-1404.yaml").write_text(
        (schedules_dir / "khalilabad-1404.yaml").read_text(encoding="utf-8").replace(
            "id: khalilabad-1404", "id: other-1404"), encoding="utf-8")
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    add_subscriber(reminders.engine, "other-1404", "event:think-tank", "email",
                   "b@example.org", "organiser", clock(), confirmed=True)
    reminders.registry.refresh(force=True)
    reminders.reconcile()
    others_rows = outbox(reminders, programme_id="other-1404")
    assert others_rows and {row.status for row in others_rows} == {"pending"}

    real_plan = engine.plan

    def failing_plan(programme, *args, **kwargs):
        if programme.id == "other-1404":
            raise OverflowError("date value out of range")
        return real_plan(programme, *args, **kwargs)

    monkeypatch.setattr(engine, "plan", failing_plan)
    edit_schedule(schedules_dir, 'id: think-tank\n    title: نشست هم‌اندیشی مدیران تعاونی‌ها\n'
                  '    category: meeting\n    date: 1404-06-16\n    start: "16:00"',
                  'id: think-tank\n    title: نشست هم‌اندیشی مدیران تعاونی‌ها\n'
                  '    category: meeting\n    date: 1404-06-16\n    start: "18:00"')
    reminders.registry.refresh(force=True)
    result = reminders.reconcile()
    assert result.notices == 1 and result.inserted >= 1
    assert outbox(reminders, programme_id="other-1404") == others_rows  # untouched
    moved = [row for row in outbox(reminders, programme_id=PROGRAMME, status="pending")
             if row.kind == "reminder"]
    assert moved and all(row.occurrence_start == THINK_TANK.replace(hour=18)
                         for row in moved)

    health = app.test_client().get("/healthz").get_json()
    assert health["status"] == "degraded"
    assert [(f["programme"], f["stage"], f["error"]) for f in health["faults"]] == \
        [("other-1404", "reminder-planning", "OverflowError")]
    assert health["faults"][0]["file"].endswith("other-1404.yaml")

    monkeypatch.setattr(engine, "plan", real_plan)  # fixed: the fault goes
    reminders.reconcile()
    assert app.test_client().get("/healthz").get_json()["faults"] == []


def test_event_moved_again_after_being_moved_back_gets_a_notice_each_time(app, smtp,
                                                                         schedules_dir):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    at_16 = '    date: 1404-06-16\n    start: "16:00"'
    at_18 = '    date: 1404-06-16\n    start: "18:00"'
    for old, new in ((at_16, at_18), (at_18, at_16), (at_16, at_18)):
        edit_schedule(schedules_dir, old, new)
        reminders.registry.refresh(force=True)
        clock.moment += dt.timedelta(minutes=10)
        assert reminders.reconcile().notices == 1
    assert len(outbox(reminders, kind="notice")) == 3
    assert reminders.send_due()["sent"] == 3
    now_at = [line for message in smtp.mailbox.parsed()
              for line in message.get_body(("plain",)).get_content().splitlines()
              if line.startswith("ساعت: ")]
    # each tells when the event is now: 18:00, then 16:00, then 18:00 again
    assert [line.split()[1] for line in now_at] == ["۱۸:۰۰", "۱۶:۰۰", "۱۸:۰۰"]


def test_event_cancelled_sends_no_reminder_and_one_notice(app, smtp, schedules_dir):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org", scope="category:meeting")
    reminders.reconcile()
    edit_schedule(schedules_dir, "    reminders: [1d, 2h]\n    notify: [organisers]\n",
                  "    reminders: [1d, 2h]\n    status: cancelled\n")
    reminders.registry.refresh(force=True)
    result = reminders.reconcile()
    assert (result.cancelled, result.notices) == (2, 1)
    assert reminders.reconcile().notices == 0
    for moment in (EARLY, THINK_TANK - dt.timedelta(days=1), THINK_TANK - dt.timedelta(hours=2)):
        clock.moment = moment
        reminders.send_due()
    (notice,) = smtp.mailbox.parsed()
    assert notice["Subject"] == "لغو شد: نشست هم\u200cاندیشی مدیران تعاونی\u200cها"
    assert "برگزار نمی‌شود" in notice.get_body(("html",)).get_content()
    assert notice["List-Unsubscribe"]


def test_event_removed_from_file_cancels_and_notifies(app, smtp, schedules_dir):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    path = schedules_dir / "khalilabad-1404.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("  - id: think-tank")], encoding="utf-8")
    reminders.registry.refresh(force=True)
    result = reminders.reconcile()
    assert (result.cancelled, result.notices) == (2, 1)
    reminders.send_due()
    (notice,) = smtp.mailbox.parsed()
    assert notice["Subject"].startswith("لغو شد")
    detail = json.loads(outbox(reminders, kind="notice")[0].detail)
    assert detail["new"] is None


# -- addresses ------------------------------------------------------------------------------

def test_unsubscribe_cancels_pending_and_forgets_the_address(app, smtp):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscriber_id = subscribe(reminders, "gone@example.org")
    reminders.reconcile()
    remove_subscribers(reminders.engine, [subscriber_id], clock.moment)
    rows = outbox(reminders)
    assert {row.status for row in rows} == {"cancelled"}
    assert {row.recipient for row in rows} == {""}
    assert reminders.reconcile().inserted == 0


def test_unsubscribe_while_a_reminder_is_claimed_by_a_dead_process(app, smtp, caplog):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscriber_id = subscribe(reminders, "gone@example.org")
    reminders.reconcile()
    clock.moment = THINK_TANK - dt.timedelta(days=1)
    assert len(claim(reminders.engine, clock.moment, 10, 60, "dead:1")) == 1
    remove_subscribers(reminders.engine, [subscriber_id], clock.moment)
    clock.moment += dt.timedelta(seconds=61)  # the dead claim's lease has run out
    with caplog.at_level("WARNING"):
        assert reminders.send_due() == {"sent": 0, "retry": 0, "failed": 0, "cancelled": 0}
    assert {(row.status, row.recipient) for row in outbox(reminders)} == {("cancelled", "")}
    assert not [record for record in caplog.records if record.levelname in ("WARNING", "ERROR")]
    assert smtp.mailbox.count() == 0


def test_addresses_deleted_after_the_retention_time(app, smtp):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "old@example.org")
    reminders.reconcile()
    clock.moment = dt.datetime(2025, 10, 8, tzinfo=UTC)  # week ended 09-08; 30 days on
    assert reminders.purge_expired() == 0
    clock.moment = dt.datetime(2025, 10, 9, tzinfo=UTC)
    assert reminders.purge_expired() == 1
    with reminders.engine.connect() as connection:
        assert connection.execute(select(subscribers)).all() == []
    assert all("old@example.org" not in str(tuple(row)) for row in outbox(reminders))


def test_console_channel_masks_addresses(app, caplog):
    app.config["SMTP_URL"] = None
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "someone.private@example.org")
    reminders.reconcile()
    clock.moment = THINK_TANK - dt.timedelta(days=1)
    with caplog.at_level("INFO"):
        assert reminders.send_due()["sent"] == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "s***@e***.org" in logged and "نشست هم\u200cاندیشی" in logged
    assert "someone.private" not in logged


def test_reconcile_without_programmes_prunes_only_when_asked(app):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    reminders.reconcile()
    kept = reconcile(reminders.engine, [], now=EARLY, base_url="https://x")
    assert kept.cancelled == 0
    pruned = reconcile(reminders.engine, [], now=EARLY, base_url="https://x",
                       prune_others=True)
    assert pruned.cancelled == 2


def test_addresses_of_a_deleted_programme_go_after_the_retention_time(app, schedules_dir):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "old@example.org")
    reminders.reconcile()
    (schedules_dir / "khalilabad-1404.yaml").unlink()
    reminders.registry.refresh(force=True)
    assert reminders.purge_expired() == 0  # not at once: the file may come back
    clock.moment = THINK_TANK + dt.timedelta(days=30, minutes=1)  # its last reminder + 30 d
    assert reminders.purge_expired() == 1
    with reminders.engine.connect() as connection:
        assert connection.execute(select(subscribers)).all() == []


def test_mail_escapes_what_the_schedule_says(app):
    import email
    import email.policy
    result = load_text("""\
programme:
  id: p
  title: 'آزمون <i>'
  organiser: 'اداره & "همکاران"'
  timezone: Asia/Tehran
  from: 1404-06-11
  to: 1404-06-11
categories:
  visit: {label: بازدید}
events:
  - id: a
    title: "بازدید <script>alert(1)</script>\\nBcc: x@example.org"
    category: visit
    date: 1404-06-11
    start: "09:00"
    end: "10:00"
    venue: {name: 'سالن <b>', address: 'کوچه "یک" & دو'}
""")
    assert result.ok, [p.format("en") for p in result.problems]
    programme = result.programme
    event = programme.event("a")
    built = mail.build_reminder(app.jinja_env, app.config, programme, event,
                                event.occurrences[0], dt.timedelta(hours=1), "a@example.org",
                                "key", "https://hafte.example.ir/remind/unsubscribe/t", EARLY)
    message = email.message_from_bytes(built.as_bytes(), policy=email.policy.default)
    assert message["Bcc"] is None
    assert "<script>" in str(message["Subject"]) and "\n" not in str(message["Subject"])
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "سالن &lt;b&gt;" in html and "&amp; دو" in html and "آزمون &lt;i&gt;" in html
    text = message.get_body(("plain",)).get_content()
    assert "<script>alert(1)</script>" in text  # plain text stays as written


def test_unconfirmed_requests_go_when_their_link_expires(app):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    add_subscriber(reminders.engine, PROGRAMME, "programme", "email", "maybe@example.org",
                   "web", clock.moment, confirmed=False)
    clock.moment += dt.timedelta(seconds=app.config["CONFIRM_MAX_AGE"] - 60)
    reminders.purge_expired()
    with reminders.engine.connect() as connection:
        assert len(connection.execute(select(subscribers)).all()) == 1
    clock.moment += dt.timedelta(seconds=61)
    reminders.purge_expired()
    with reminders.engine.connect() as connection:
        assert connection.execute(select(subscribers)).all() == []


def test_claim_on_postgresql_skips_locked_rows():
    from sqlalchemy.dialects import postgresql, sqlite
    sql = str(due_query(EARLY, 50, "postgresql").compile(dialect=postgresql.dialect()))
    assert sql.rstrip().endswith("FOR UPDATE SKIP LOCKED")
    assert "FOR UPDATE" not in str(due_query(EARLY, 50, "sqlite").compile(
        dialect=sqlite.dialect()))


def test_subscribing_again_restores_only_reminders_still_to_come(app, smtp):
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    first = subscribe(reminders, "back@example.org")
    reminders.reconcile()
    remove_subscribers(reminders.engine, [first], clock.moment)
    clock.moment = THINK_TANK - dt.timedelta(hours=3)  # the 1 d reminder's time has passed
    subscribe(reminders, "back@example.org")
    result = reminders.reconcile()
    assert result.revived == 1
    statuses = {row.offset_seconds: row.status for row in outbox(reminders)}
    assert statuses == {86400: "cancelled", 7200: "pending"}
    clock.moment = THINK_TANK - dt.timedelta(hours=2)
    assert reminders.send_due()["sent"] == 1
    assert smtp.mailbox.parsed()[0]["To"] == "back@example.org"


def test_running_scheduler_picks_up_a_moved_event_by_itself(app, smtp, schedules_dir):
    clock = ShiftClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "a@example.org")
    scheduler = start_background(app, clock=clock)
    try:
        time.sleep(0.5)
        assert len(outbox(reminders)) == 2
        edit_schedule(schedules_dir, 'date: 1404-06-16\n    start: "16:00"\n    duration: 2h',
                      'date: 1404-06-16\n    start: "17:00"\n    duration: 2h')
        assert smtp.mailbox.wait_for(1, timeout=8)  # the notice, sent at once
    finally:
        scheduler.shutdown()
    (notice,) = smtp.mailbox.parsed()
    assert "۱۷:۰۰ تا ۱۹:۰۰" in notice.get_body(("plain",)).get_content()
    pending = {row.due_at for row in outbox(reminders, status="pending")}
    assert pending == {THINK_TANK + dt.timedelta(hours=1) - dt.timedelta(days=1),
                       THINK_TANK + dt.timedelta(hours=1) - dt.timedelta(hours=2)}


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_mail_over_tls_with_a_login(tmp_path, monkeypatch, app, scheme):
    """SMTP_URL's TLS forms against a real TLS server (certificate from a test CA the
    client is told to trust, as a real one would be)."""
    import ssl

    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from reminder_helpers import Mailbox

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret:/")

    mailbox, port = Mailbox(), free_port()
    options = {"hostname": "127.0.0.1", "port": port, "authenticator": authenticator}
    if scheme == "smtps":
        # aiosmtpd does not count implicit TLS as TLS for AUTH; the connection is TLS
        controller = Controller(mailbox, server_hostname="127.0.0.1", auth_require_tls=False,
                                ssl_context=server_context, **options)
    else:
        controller = Controller(mailbox, tls_context=server_context, require_starttls=True,
                                **options)
    controller.start()
    try:
        programme = Reminders(app).registry.get(PROGRAMME)
        message = build_confirmation(app.jinja_env, app.config, programme, "همه",
                                     "a@example.org", "https://hafte.example.ir/c", "k", EARLY)
        transport = SmtpTransport(f"{scheme}://hafte%40example.ir:s3cret%3A%2F@127.0.0.1:{port}")
        transport.send(message)
        transport.close()
        assert mailbox.count() == 1
        assert logins == [(b"hafte@example.ir", b"s3cret:/")]
        # (aiosmtpd answers the first mechanism, then lets the next try time out)
        wrong = SmtpTransport(f"{scheme}://hafte%40example.ir:nope@127.0.0.1:{port}",
                              timeout=2)
        with pytest.raises(DeliveryError) as refused:
            wrong.send(message)
        assert refused.value.connection and not refused.value.permanent
        assert mailbox.count() == 1
    finally:
        controller.stop()


def test_one_log_line_per_sent_reminder_with_the_address_masked(app, smtp, caplog):
    import logging
    clock = ManualClock(EARLY)
    reminders = Reminders(app, clock)
    subscribe(reminders, "participant@example.org")
    reminders.reconcile()
    clock.moment = THINK_TANK - dt.timedelta(hours=2)
    with caplog.at_level(logging.INFO, logger="week_planner.reminders"):
        counts = reminders.send_due()
    lines = [r.getMessage() for r in caplog.records if " sent: " in r.getMessage()]
    assert counts["sent"] == len(lines) >= 1
    assert all("khalilabad-1404/think-tank" in line and "p***@e***.org" in line
               for line in lines)
    assert not any("participant@example.org" in r.getMessage() for r in caplog.records)
