"""The drill the process tests share: a one-event programme, confirmed subscribers, a real
SMTP server and the environment for ``week-planner scheduler`` processes
(test_reminders_processes.py, test_reminders_crashes.py)."""

from __future__ import annotations

import collections
import datetime as dt
import time

import pytest
from reminder_helpers import (
    DRILL_DUE,
    DRILL_START,
    DRILL_YAML,
    SmtpServer,
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
