"""The scheduler as real processes on one database (a SQLite file, and PostgreSQL): killed
with SIGKILL in the middle of a batch (restarted, or beside a peer), stopped by SIGTERM or
SIGINT with a backlog, and two of them side by side. Clocks are shifted with time-machine
so the reminders fall due a few seconds after the processes start."""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import time

import pytest
from reminder_helpers import (
    DRILL_DUE,
    DRILL_START,
    DRILL_YAML,
    SmtpServer,
    free_port,
    kill,
    scheduler_process,
)
from sqlalchemy import select

from week_planner import create_app
from week_planner.store import app_engine, reminder_outbox, subscribers

UTC = dt.timezone.utc


@pytest.fixture
def drill(tmp_path, database_url):
    """A one-event programme, ``count`` confirmed subscribers, a real SMTP server and the
    environment for ``week-planner scheduler`` processes."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "drill.yaml").write_text(DRILL_YAML, encoding="utf-8")
    # A few milliseconds per message, as a real server takes, so a kill can land mid-batch.
    server = SmtpServer(delay=0.003).start()
    env = {
        "WEEK_PLANNER_SCHEDULES_DIR": str(schedules),
        "WEEK_PLANNER_INSTANCE_DIR": str(tmp_path / "instance"),
        "WEEK_PLANNER_SECRET_KEY": "a-test-key-that-is-long-enough",
        "WEEK_PLANNER_BASE_URL": "https://hafte.example.ir",
        "WEEK_PLANNER_SMTP_URL": server.url,
        "WEEK_PLANNER_MAIL_FROM": "hafte@khalilabad.example.ir",
        "WEEK_PLANNER_REMINDER_LEASE": "5",
        "WEEK_PLANNER_REMINDER_BATCH_SIZE": "20",
        "WEEK_PLANNER_RETRY_DELAYS": "1 2",
        "WEEK_PLANNER_REMINDER_SWEEP_INTERVAL": "1",
        "WEEK_PLANNER_DATABASE_URL": database_url,
    }

    app = create_app({"SCHEDULES_DIR": str(schedules), "DATABASE_URL": database_url,
                      "INSTANCE_DIR": str(tmp_path / "instance"),
                      "SECRET_KEY": env["WEEK_PLANNER_SECRET_KEY"]})
    engine = app_engine(app)

    def add_subscribers(count: int) -> None:
        now = dt.datetime(2025, 9, 1, tzinfo=UTC)
        with engine.begin() as connection:
            connection.execute(subscribers.insert(), [
                {"programme_id": "drill-1404", "scope": "programme", "channel": "email",
                 "address": f"member{n:04d}@example.org", "source": "organiser",
                 "created_at": now, "confirmed_at": now, "code_attempts": 0}
                for n in range(count)])

    def rows():
        with engine.connect() as connection:
            return connection.execute(select(reminder_outbox)).all()

    processes = []
    shifts = []
    due = [DRILL_DUE]

    def start(*command: str):
        """A scheduler process (``command``: ``week-planner scheduler`` unless another is
        named). All of them share one timeline: the first starts 3 s before the due time,
        a later one (a restart) when its turn comes on that clock."""
        if not shifts:
            shifts.append((due[0] - dt.timedelta(seconds=3) -
                           dt.datetime.now(UTC)).total_seconds())
        process = scheduler_process(env, shifts[0],
                                    tmp_path / f"scheduler-{len(processes)}.log",
                                    command or ("scheduler",))
        processes.append(process)
        return process

    def use_defaults(offset_minutes: int) -> None:
        """Run the processes on the default claim, retry and sweep settings, with the
        event's reminder ``offset_minutes`` before it."""
        for name in ("REMINDER_LEASE", "REMINDER_BATCH_SIZE", "RETRY_DELAYS",
                     "REMINDER_SWEEP_INTERVAL"):
            del env[f"WEEK_PLANNER_{name}"]
        (schedules / "drill.yaml").write_text(
            DRILL_YAML.replace("reminders: [30m]", f"reminders: [{offset_minutes}m]"),
            encoding="utf-8")
        due[0] = DRILL_START - dt.timedelta(minutes=offset_minutes)

    def wait_until_all_sent(count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = rows()
            if len(found) == count and all(row.status == "sent" for row in found):
                return True
            time.sleep(0.2)
        return False

    drill = collections.namedtuple("Drill", "server add_subscribers rows start tmp_path "
                                            "use_defaults wait_until_all_sent")
    yield drill(server, add_subscribers, rows, start, tmp_path, use_defaults,
                wait_until_all_sent)
    for process in processes:
        kill(process)
    engine.dispose()
    server.stop()


def _logs(tmp_path) -> str:
    return "\n".join(path.read_text(errors="replace")[-3000:]
                     for path in sorted(tmp_path.glob("scheduler-*.log")))


def test_kill_9_mid_batch_then_restart_delivers_all_with_at_most_one_duplicate(drill):
    """The kill lands in the one window left: the server has kept message 101 but the
    sender has not yet heard so (nor recorded it). That message goes out again after the
    restart: one duplicate, with the same Message-ID; everything else exactly once."""
    drill.add_subscribers(500)
    first = drill.start()

    def kill_at_101(count: int) -> None:
        if count == 101:  # 100 accepted and answered
            os.kill(first.pid, signal.SIGKILL)

    drill.server.mailbox.on_stored = kill_at_101
    assert drill.server.mailbox.wait_for(101, timeout=30), _logs(drill.tmp_path)
    first.wait(timeout=10)
    drill.server.mailbox.on_stored = None
    accepted_at_kill = drill.server.mailbox.count()
    assert 100 <= accepted_at_kill < 400, accepted_at_kill

    drill.start()  # restarted at once
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if len(drill.server.mailbox.recipients) >= 500:
            break
        time.sleep(0.2)
    time.sleep(2)  # the rows the killed process held went out together; a duplicate too

    messages = drill.server.mailbox.parsed()
    by_address = collections.defaultdict(list)
    for message in messages:
        by_address[message["To"]].append(message["Message-ID"])
    assert len(by_address) == 500, _logs(drill.tmp_path)
    duplicates = {to: ids for to, ids in by_address.items() if len(ids) > 1}
    assert len(messages) == 501 and len(duplicates) == 1, duplicates
    (ids,) = duplicates.values()
    assert len(ids) == 2 and ids[0] == ids[1]  # the duplicate carries the same Message-ID
    assert {row.status for row in drill.rows()} == {"sent"}
    print(f"killed after {accepted_at_kill} accepted; {len(messages) - 500} duplicate(s)")


def test_two_schedulers_share_the_work_and_send_nothing_twice(drill):
    drill.add_subscribers(600)
    first, second = drill.start(), drill.start()
    assert drill.server.mailbox.wait_for(600, timeout=120), _logs(drill.tmp_path)
    time.sleep(3)  # anything sent twice would arrive by now
    messages = drill.server.mailbox.parsed()
    assert len(messages) == 600
    assert len({m["Message-ID"] for m in messages}) == 600
    assert len({m["To"] for m in messages}) == 600
    rows = drill.rows()
    assert {row.status for row in rows} == {"sent"}
    by_process = collections.Counter(row.sent_by.split(":")[1] for row in rows)
    assert set(by_process) == {str(first.pid), str(second.pid)}, by_process
    assert min(by_process.values()) >= 0.2 * 600, by_process
    print(f"sent per process: {sorted(by_process.values())}")


def _one_each_or_a_same_id_duplicate(messages, count: int) -> int:
    """Every address got its reminder; one that got it twice got the same Message-ID.
    Returns the number of duplicates."""
    by_address = collections.defaultdict(list)
    for message in messages:
        by_address[message["To"]].append(message["Message-ID"])
    assert len(by_address) == count
    for ids in by_address.values():
        assert len(ids) <= 2 and len(set(ids)) == 1, ids
    return len(messages) - count


def test_kill_9_five_times_with_default_settings_loses_no_5m_reminder(drill):
    """The default settings and a reminder 5 minutes before the event. Five times during a
    drain of 1,000 the scheduler is killed (SIGKILL) while the server holds a message it
    has not answered yet, and started again at once: the new process takes the dead one's
    claims over as it starts (same machine, its pid gone). Nothing is lost, each kill
    costs at most one duplicate (with the same Message-ID), nothing is missed or failed,
    and everything goes out before the event."""
    drill.use_defaults(offset_minutes=5)
    drill.add_subscribers(1000)
    process = drill.start()
    kills = []
    for threshold in (150, 320, 490, 660, 830):
        victim, fired = process, []

        def kill_at(count: int, victim=victim, threshold=threshold, fired=fired) -> None:
            if count >= threshold and not fired:
                os.kill(victim.pid, signal.SIGKILL)
                fired.append(count)

        drill.server.mailbox.on_stored = kill_at
        assert drill.server.mailbox.wait_for(threshold, timeout=60), _logs(drill.tmp_path)
        victim.wait(timeout=10)
        drill.server.mailbox.on_stored = None
        kills.append(drill.server.mailbox.count())
        process = drill.start()  # restarted at once
    assert drill.wait_until_all_sent(1000, timeout=300), _logs(drill.tmp_path)

    duplicates = _one_each_or_a_same_id_duplicate(drill.server.mailbox.parsed(), 1000)
    assert duplicates <= len(kills)
    assert all(row.sent_at < row.occurrence_start for row in drill.rows())
    print(f"killed after {kills} messages; {duplicates} duplicate(s); 0 lost, 0 missed")


def test_kill_9_beside_a_running_peer_with_default_settings_loses_no_5m_reminder(drill):
    """No restart: the other scheduler takes the dead one's claims over by itself (at its
    next sweep, or when the claim runs out unrenewed: 30 s), minutes before the event."""
    drill.use_defaults(offset_minutes=5)
    drill.add_subscribers(600)
    first, second = drill.start(), drill.start()
    killed_at = []

    def kill_first(count: int) -> None:
        if count >= 200 and not killed_at:
            os.kill(first.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())

    drill.server.mailbox.on_stored = kill_first
    assert drill.server.mailbox.wait_for(200, timeout=60), _logs(drill.tmp_path)
    first.wait(timeout=10)
    drill.server.mailbox.on_stored = None
    assert drill.wait_until_all_sent(600, timeout=240), _logs(drill.tmp_path)
    finished_in = time.monotonic() - killed_at[0]

    duplicates = _one_each_or_a_same_id_duplicate(drill.server.mailbox.parsed(), 600)
    assert duplicates <= 1
    rows = drill.rows()
    assert all(row.sent_at < row.occurrence_start for row in rows)
    assert second.poll() is None
    print(f"all sent {finished_in:.1f} s after the kill; {duplicates} duplicate(s)")


@pytest.mark.parametrize("command, stop_signal", [
    (("scheduler",), signal.SIGTERM), (("scheduler",), signal.SIGINT),
    (("serve",), signal.SIGTERM)])
def test_a_stop_signal_ends_the_scheduler_in_seconds_and_another_sends_the_rest(
        drill, command, stop_signal):
    """A backlog of 1,000 at 20 ms a message (20 s at least). The signal comes while the
    server holds message 100: the process finishes that one, gives back every claim and
    exits within seconds; a second scheduler then sends the rest, nothing twice."""
    drill.server.mailbox.delay = 0.02
    drill.add_subscribers(1000)
    if command == ("serve",):
        command = ("serve", "--port", str(free_port()))
    process = drill.start(*command)
    signalled = []

    def stop_at_100(count: int) -> None:
        if count >= 100 and not signalled:
            process.send_signal(stop_signal)
            signalled.append(time.monotonic())

    drill.server.mailbox.on_stored = stop_at_100
    assert drill.server.mailbox.wait_for(100, timeout=60), _logs(drill.tmp_path)
    process.wait(timeout=60)
    stopped_in = time.monotonic() - signalled[0]
    drill.server.mailbox.on_stored = None
    accepted = drill.server.mailbox.count()
    statuses = collections.Counter(row.status for row in drill.rows())
    print(f"{command[0]}, signal {stop_signal.name}: exited {stopped_in:.2f} s after it, "
          f"{accepted} sent, {statuses['pending']} given back")
    assert process.returncode == 0, _logs(drill.tmp_path)
    assert stopped_in <= 10
    assert set(statuses) == {"sent", "pending"}, statuses  # none left "sending"
    assert statuses["sent"] == accepted <= 105  # the one under way finished, few after

    given_back = [row for row in drill.rows() if row.status == "pending"]
    assert given_back and all(row.lease_until is None for row in given_back)
    if (command[0], stop_signal) != ("scheduler", signal.SIGTERM):
        return  # the rows are given back as above; another sending them is shown once
    drill.server.mailbox.delay = 0.003
    drill.start()
    assert drill.wait_until_all_sent(1000, timeout=300), _logs(drill.tmp_path)
    messages = drill.server.mailbox.parsed()
    assert len(messages) == 1000 and len({m["To"] for m in messages}) == 1000
