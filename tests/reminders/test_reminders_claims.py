"""Claims on reminders and their lease, in one process: renewed while a batch is sent,
taken over when their process is gone, given back on a clean stop; retries after an
outage. A real SMTP server (aiosmtpd on loopback), a SQLite file and PostgreSQL, the clock
injected. The same as real processes: test_reminders_processes.py."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from reminder_helpers import ROOT, ShiftClock, SmtpServer, free_port
from sqlalchemy import select, update

from clocks import ManualClock
from week_planner import create_app
from week_planner.config import SETTINGS
from week_planner.reminders import workers
from week_planner.reminders.outbox import MAYBE_SENT, UNREACHABLE, claim
from week_planner.reminders.scheduler import start_background
from week_planner.reminders.sending import Reminders
from week_planner.reminders.subscribers import add_subscriber
from week_planner.store import reminder_outbox

UTC = dt.timezone.utc
PROGRAMME = "khalilabad-1404"
THINK_TANK = dt.datetime(2025, 9, 7, 16, 0, tzinfo=ZoneInfo("Asia/Tehran"))
DUE = THINK_TANK - dt.timedelta(minutes=5)  # its one reminder, "5m", in these tests
EARLY = dt.datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
ELSEWHERE = "another-host:4242:0badc0de"  # a claimant nothing can be known of



@pytest.fixture
def app(tmp_path, schedules_dir, smtp, database_url):
    """The sample programme, think-tank with a single "5m" reminder; default claim and
    retry settings."""
    path = schedules_dir / "khalilabad-1404.yaml"
    text = path.read_text(encoding="utf-8")
    old = "    reminders: [1d, 2h]\n    notify: [organisers]\n"
    assert text.count(old) == 1
    path.write_text(text.replace(old, "    reminders: [5m]\n"), encoding="utf-8")
    app = create_app({
        "TESTING": True, "SCHEDULES_DIR": str(schedules_dir), "DATABASE_URL": database_url,
        "INSTANCE_DIR": str(tmp_path / "instance"), "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir", "SMTP_URL": smtp.url,
        "MAIL_FROM": "hafte@khalilabad.example.ir", "REMINDER_SWEEP_INTERVAL": 1.0,
    })
    yield app
    engine = app.extensions.get("week_planner.engine")
    if engine is not None:
        engine.dispose()


def planned(app, clock, count: int) -> Reminders:
    """``count`` confirmed subscribers of think-tank, their reminders in the outbox."""
    reminders = Reminders(app, clock)
    for n in range(count):
        add_subscriber(reminders.engine, PROGRAMME, "event:think-tank", "email",
                       f"member{n:03d}@example.org", "organiser", EARLY, confirmed=True)
    reminders.reconcile()
    return reminders


def outbox(reminders: Reminders) -> list:
    with reminders.engine.connect() as connection:
        return connection.execute(select(reminder_outbox)
                                  .order_by(reminder_outbox.c.id)).all()


def test_the_defaults_take_a_dead_claim_over_and_retry_well_before_a_5m_reminder_is_late():
    assert SETTINGS["REMINDER_LEASE"][0] <= 60
    assert max(SETTINGS["RETRY_DELAYS"][0]) <= 60


def test_claim_of_a_process_that_died_elsewhere_is_taken_over_after_the_default_lease(app,
                                                                                     smtp):
    clock = ManualClock(EARLY)
    reminders = planned(app, clock, 3)
    clock.moment = DUE
    assert len(claim(reminders.engine, DUE, 50, app.config["REMINDER_LEASE"],
                     ELSEWHERE)) == 3
    clock.moment = DUE + dt.timedelta(seconds=app.config["REMINDER_LEASE"] - 1)
    assert reminders.send_due()["sent"] == 0  # it may still be sending them
    clock.moment = DUE + dt.timedelta(seconds=app.config["REMINDER_LEASE"] + 1)
    assert reminders.send_due()["sent"] == 3  # 4.5 minutes before the event
    rows = outbox(reminders)
    assert {(row.status, row.sent_by) for row in rows} == {("sent", reminders.worker)}
    # the first may have gone out already (the same Message-ID twice); the others had not
    # been tried, and their attempt is not counted
    assert [row.attempts for row in rows] == [2, 1, 1]
    assert smtp.mailbox.count() == 3


def test_rows_of_a_dead_claimant_are_missed_after_the_start_except_the_one_under_way(app):
    """Its rows were sent one at a time in claim order: only the first left can have
    reached the recipient. That one is recorded as failed, with a note; the others were
    never tried, and are missed."""
    clock = ManualClock(EARLY)
    reminders = planned(app, clock, 3)
    assert len(claim(reminders.engine, DUE, 50, 600, ELSEWHERE)) == 3  # a 10 min lease
    clock.moment = DUE + dt.timedelta(minutes=10)
    assert reminders.send_due()["sent"] == 0
    rows = outbox(reminders)
    assert [(row.status, row.last_error) for row in rows] == [
        ("failed", MAYBE_SENT), ("missed", None), ("missed", None)]


def _name_of_a_finished_process() -> str:
    code = "from week_planner.reminders.workers import worker_name; print(worker_name())"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(workers.PLACE is None, reason="needs /proc")
def test_gone_is_true_only_for_a_claimant_known_to_have_stopped(app):
    live = Reminders(app).worker
    host, pid, token, place, start = live.split(":")
    assert not workers.gone(live)
    assert workers.gone(_name_of_a_finished_process())
    assert workers.gone(f"{host}:{pid}:{token}:{place}:1")  # its pid, now another's
    assert not workers.gone(f"{host}:{pid}:{token}:0000beef:{start}")  # other container
    assert not workers.gone(f"{host}:{pid}:{token}")  # a name without place and start
    assert not workers.gone(ELSEWHERE) and not workers.gone(None)


@pytest.mark.skipif(workers.PLACE is None, reason="needs /proc")
def test_a_scheduler_on_the_same_machine_takes_over_the_claims_of_a_dead_one_at_once(app,
                                                                                    smtp):
    clock = ManualClock(EARLY)
    reminders = planned(app, clock, 4)
    clock.moment = DUE
    dead = _name_of_a_finished_process()
    assert len(claim(reminders.engine, DUE, 2, 600, dead)) == 2
    assert len(claim(reminders.engine, DUE, 1, 600, ELSEWHERE)) == 1
    assert reminders.recover() == {dead: 2}
    assert reminders.recover() == {}
    counts = reminders.send_due()  # at once, not after the dead one's 10 min lease
    assert counts["sent"] == 3 and smtp.mailbox.count() == 3
    statuses = [(row.status, row.sent_by) for row in outbox(reminders)]
    assert statuses.count(("sending", ELSEWHERE)) == 1  # its claim still runs


def test_a_send_longer_than_its_lease_stays_claimed_while_it_is_under_way(app):
    """A mail server that takes longer to answer than the claim lasts: the heartbeat
    renews the claim, so a peer polling all along takes nothing over and sends nothing a
    second time."""
    lease = 3.0
    server = SmtpServer(delay=4.0).start()
    app.config.update(SMTP_URL=server.url, REMINDER_LEASE=lease)
    clock = ShiftClock(EARLY)
    reminders = planned(app, clock, 2)
    peer = Reminders(app, clock)
    clock.set(DUE)
    counts = {}
    sender = threading.Thread(target=lambda: counts.update(reminders.send_due()))
    sender.start()
    taken, leases = [], set()
    try:
        while not any(row.status == "sending" for row in outbox(reminders)):
            time.sleep(0.01)
        while sender.is_alive():
            taken += claim(peer.engine, clock(), 50, lease, peer.worker)
            leases.update(row.lease_until for row in outbox(reminders)
                          if row.status == "sending")
            time.sleep(0.1)
    finally:
        sender.join()
        server.stop()
    assert taken == []
    assert counts["sent"] == 2 and server.mailbox.count() == 2
    assert {(row.status, row.sent_by) for row in outbox(reminders)} == \
        {("sent", reminders.worker)}
    assert max(leases) - min(leases) >= dt.timedelta(seconds=2 * lease)  # renewed


def test_a_stop_finishes_the_message_under_way_and_gives_back_the_rest(app, smtp):
    clock = ShiftClock(EARLY)
    reminders = planned(app, clock, 30)
    clock.set(DUE)

    def stop_at_5(count: int) -> None:
        if count == 5:  # kept by the server, not yet answered
            reminders.stopping.set()

    smtp.mailbox.on_stored = stop_at_5
    assert reminders.send_due()["sent"] == 5
    smtp.mailbox.on_stored = None
    rows = outbox(reminders)
    assert sorted(row.status for row in rows) == ["pending"] * 25 + ["sent"] * 5
    assert all(row.attempts == 0 and row.lease_until is None
               for row in rows if row.status == "pending")
    assert Reminders(app, clock).send_due()["sent"] == 25  # another process, at once
    messages = smtp.mailbox.parsed()
    assert len(messages) == 30 and len({m["To"] for m in messages}) == 30


def test_a_success_after_an_outage_makes_the_mail_held_back_for_it_due_at_once(app, smtp):
    clock = ManualClock(EARLY)
    reminders = planned(app, clock, 4)
    port = free_port()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    clock.moment = DUE
    assert reminders.send_due()["retry"] == 4
    rows = outbox(reminders)
    assert all(row.last_error.startswith(UNREACHABLE) and row.next_attempt_at > DUE
               for row in rows)
    # The server is back. One row's retry comes first; another waits for a reason of its
    # own (a refusal of that one recipient), which a success elsewhere does not change.
    server = SmtpServer(port=port).start()
    try:
        first, refused = rows[0].id, rows[3].id
        with reminders.engine.begin() as connection:
            connection.execute(update(reminder_outbox).where(reminder_outbox.c.id == first)
                               .values(next_attempt_at=DUE))
            connection.execute(update(reminder_outbox)
                               .where(reminder_outbox.c.id == refused)
                               .values(last_error="SMTP 451: mailbox busy"))
        assert reminders.send_due()["sent"] == 3
        assert server.mailbox.count() == 3
    finally:
        server.stop()
    left = [row for row in outbox(reminders) if row.status != "sent"]
    assert [(row.id, row.status) for row in left] == [(refused, "pending")]
    assert left[0].next_attempt_at > DUE


def test_smtp_down_for_5_minutes_scaled_recovers_within_2_minutes_scaled(app):
    """The default retry delays and a 5 min outage, both divided by 30: every reminder is
    delivered within 4 s (2 min / 30) of the server's return."""
    scale = 30
    port = free_port()
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{port}", RETRY_DELAYS=[
        delay / scale for delay in SETTINGS["RETRY_DELAYS"][0]])
    clock = ShiftClock(EARLY)
    reminders = planned(app, clock, 60)
    clock.set(DUE - dt.timedelta(seconds=0.5))
    scheduler = start_background(app, clock=clock)
    server = None
    try:
        time.sleep(300 / scale)
        assert all(row.status in ("pending", "sending") for row in outbox(reminders))
        server = SmtpServer(port=port).start()
        returned = time.monotonic()
        assert server.mailbox.wait_for(60, timeout=30)
        recovery = time.monotonic() - returned
    finally:
        scheduler.shutdown()
        if server:
            server.stop()
    assert len({m["To"] for m in server.mailbox.parsed()}) == 60
    print(f"delivered {recovery:.1f} s after the server returned (×{scale}: "
          f"{recovery * scale:.0f} s)")
    assert recovery <= 120 / scale
