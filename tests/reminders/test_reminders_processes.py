"""The scheduler as real processes on one database (a SQLite file, and PostgreSQL): killed
with SIGKILL in the middle of a batch, and two of them side by side. Clocks are shifted with time-machine so the
reminders fall due a few seconds after the processes start."""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import time

import pytest
from reminder_helpers import DRILL_DUE, DRILL_YAML, SmtpServer, kill, scheduler_process
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

    def start():
        """A scheduler process. All of them share one timeline: the first starts 3 s
        before the due time, a later one (a restart) when its turn comes on that clock."""
        if not shifts:
            shifts.append((DRILL_DUE - dt.timedelta(seconds=3) -
                           dt.datetime.now(UTC)).total_seconds())
        process = scheduler_process(env, shifts[0],
                                    tmp_path / f"scheduler-{len(processes)}.log")
        processes.append(process)
        return process

    drill = collections.namedtuple("Drill", "server add_subscribers rows start tmp_path")
    yield drill(server, add_subscribers, rows, start, tmp_path)
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
    assert drill.server.mailbox.wait_for(101, timeout=60), _logs(drill.tmp_path)
    first.wait(timeout=10)
    drill.server.mailbox.on_stored = None
    accepted_at_kill = drill.server.mailbox.count()
    assert 100 <= accepted_at_kill < 400, accepted_at_kill

    drill.start()  # restarted at once
    deadline = time.monotonic() + 120
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
