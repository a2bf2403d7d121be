"""Reminder sending figures, against a local aiosmtpd server in its own process.

1. Drain: 10,000 reminders due at once; prints reminders per second (target ≥ 200/s),
   and how long planning them (reconciliation) took.
2. Lateness: 2,000 reminders spread evenly over two minutes, sent by the scheduler
   (APScheduler waking at each due time); prints lateness p50/p95/max, measured from the
   due time to the moment the row was marked sent after the server accepted it
   (target p95 ≤ 2 s).
3. Outage (only when asked for, it takes minutes): N reminders fall due while the mail
   server is down for S seconds (default 300); the scheduler runs on the default retry
   and claim settings. Prints how long after the server came back the last of them was
   delivered (target ≤ 120 s), and the attempts it took.

Usage: python benchmarks/reminders.py [--drain N] [--spread N] [--seconds S]
                                     [--outage N] [--outage-seconds S]
                                     [--database-url URL]  (default: a SQLite file)
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

from week_planner import create_app
from week_planner.reminders.planning import reminder_key
from week_planner.reminders.scheduler import ReminderScheduler
from week_planner.reminders.sending import Reminders
from week_planner.store import app_engine, reminder_occurrences, reminder_outbox, subscribers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
zoneinfo.reset_tzpath(to=[])

from sqlalchemy import select  # noqa: E402

UTC = dt.timezone.utc
YAML = """\
programme:
  id: bench-1404
  title: سنجش یادآوری
  organiser: اداره تعاون، کار و رفاه اجتماعی
  timezone: Asia/Tehran
  from: 1404-07-01
  to: 1404-07-01
categories:
  meeting: {label: نشست}
events:
  - id: meeting
    title: نشست هم‌اندیشی مدیران تعاونی‌ها
    category: meeting
    date: 1404-07-01
    start: "10:00"
    end: "11:00"
    venue: {name: سالن اجتماعات فرمانداری, address: خیابان امام خمینی, location: [35.25, 58.28]}
    reminders: [2h]
"""
START = dt.datetime(2025, 9, 23, 6, 30, tzinfo=UTC)  # 1404-07-01 10:00 Tehran
DUE = START - dt.timedelta(hours=2)


class Clock:
    def __init__(self, moment: dt.datetime):
        self.shift = moment - dt.datetime.now(UTC)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(UTC) + self.shift


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp_server(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c",
                                "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("aiosmtpd did not start")


DATABASE_URL: str | None = None


def make_app(folder: Path, port: int):
    schedules = folder / "schedules"
    schedules.mkdir()
    (schedules / "bench.yaml").write_text(YAML, encoding="utf-8")
    settings = {"DATABASE_URL": DATABASE_URL} if DATABASE_URL else {}
    return create_app({**settings, "SCHEDULES_DIR": str(schedules),
                       "INSTANCE_DIR": str(folder / "instance"),
                       "SMTP_URL": f"smtp://127.0.0.1:{port}", "RELOAD_INTERVAL": 60,
                       # the file was just written: serve it now, not once it has settled
                       "SCHEDULE_SETTLE_SECONDS": 0,
                       "BASE_URL": "https://hafte.example.ir"})


def reset(engine) -> None:
    with engine.begin() as connection:
        for table in (reminder_outbox, subscribers, reminder_occurrences):
            connection.execute(table.delete())


def add_members(engine, count: int, at: dt.datetime) -> None:
    """``count`` confirmed mail subscribers of the whole programme, added at ``at``."""
    with engine.begin() as connection:
        connection.execute(subscribers.insert(), [
            {"programme_id": "bench-1404", "scope": "programme", "channel": "email",
             "address": f"member{n:05d}@example.org", "source": "organiser",
             "created_at": at, "confirmed_at": at, "code_attempts": 0}
            for n in range(count)])


def drain(count: int, port: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder), port)
        engine = app_engine(app)
        reset(engine)
        early = DUE - dt.timedelta(days=1)
        add_members(engine, count, early)
        reminders = Reminders(app, lambda: early)
        began = time.perf_counter()
        result = reminders.reconcile()
        planned = time.perf_counter() - began
        assert result.inserted == count, result
        reminders.clock = Clock(DUE)
        began = time.perf_counter()
        counts = reminders.send_due()
        elapsed = time.perf_counter() - began
        assert counts["sent"] == count, counts
        print(f"drain: {count} reminders due at once: {elapsed:.1f} s, "
              f"{count / elapsed:.0f} reminders/s (target ≥ 200/s); "
              f"planning them took {planned:.2f} s")
        engine.dispose()


class SendOnly(ReminderScheduler):
    """The rows below are written directly (planning gives minute-aligned times only),
    so the scheduler must not reconcile them away: only waking and sending are measured."""

    def reconcile(self) -> None:
        pass


def spread(count: int, seconds: float, port: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder), port)
        engine = app_engine(app)
        reset(engine)
        clock = Clock(DUE - dt.timedelta(seconds=3))
        first = DUE
        created = clock()
        rows = []
        for n in range(count):
            due = first + dt.timedelta(seconds=seconds * n / count)
            address = f"member{n:05d}@example.org"
            rows.append({
                "key": reminder_key("bench-1404", "meeting", START, 7200, "email", address),
                "kind": "reminder", "programme_id": "bench-1404", "event_id": "meeting",
                "occurrence_key": "meeting", "occurrence_start": START, "offset_seconds": 7200,
                "channel": "email", "recipient": address, "subscriber_id": None,
                "detail": None, "due_at": due, "next_attempt_at": due, "status": "pending",
                "attempts": 0, "last_error": None, "lease_until": None, "created_at": created,
                "updated_at": created, "sent_at": None, "sent_by": None})
        with engine.begin() as connection:
            connection.execute(reminder_outbox.insert(), rows)
        scheduler = SendOnly(app, clock=clock)
        scheduler.start()
        try:
            time.sleep(3 + seconds + 3)
        finally:
            scheduler.shutdown()
        with engine.connect() as connection:
            done = connection.execute(select(reminder_outbox.c.due_at, reminder_outbox.c.sent_at,
                                             reminder_outbox.c.status)).all()
        sent = [row for row in done if row.status == "sent"]
        lateness = sorted((row.sent_at - row.due_at).total_seconds() for row in sent)
        p50 = statistics.median(lateness)
        p95 = lateness[int(0.95 * (len(lateness) - 1))]
        print(f"spread: {len(sent)}/{count} reminders over {seconds:.0f} s sent; lateness "
              f"p50 {p50:.3f} s, p95 {p95:.3f} s, max {lateness[-1]:.3f} s "
              f"(target p95 ≤ 2 s); early: {sum(x < 0 for x in lateness)}")
        engine.dispose()


def outage(count: int, seconds: float) -> None:
    port = free_port()  # nothing listens there until the outage ends
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder), port)
        engine = app_engine(app)
        reset(engine)
        early = DUE - dt.timedelta(days=1)
        add_members(engine, count, early)
        assert Reminders(app, lambda: early).reconcile().inserted == count
        clock = Clock(DUE - dt.timedelta(seconds=1))
        scheduler = ReminderScheduler(app, clock=clock)
        scheduler.start()
        server = None
        try:
            time.sleep(1 + seconds)
            server = smtp_server(port)
            back = clock()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    rows = connection.execute(select(reminder_outbox.c.status,
                                                     reminder_outbox.c.sent_at,
                                                     reminder_outbox.c.attempts)).all()
                if all(row.status == "sent" for row in rows):
                    break
                time.sleep(0.5)
        finally:
            scheduler.shutdown()
            if server is not None:
                server.terminate()
                server.wait()
        sent = [row for row in rows if row.status == "sent"]
        last = max(row.sent_at for row in sent) - back
        first = min(row.sent_at for row in sent) - back
        attempts = sum(row.attempts for row in rows)
        print(f"outage: {len(sent)}/{count} reminders due during a {seconds:.0f} s outage "
              f"of the mail server delivered {first.total_seconds():.1f} to "
              f"{last.total_seconds():.1f} s after it came back (target ≤ 120 s); "
              f"{attempts} attempts in all")
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drain", type=int, default=10_000)
    parser.add_argument("--spread", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--outage", type=int, default=0,
                        help="reminders due during a mail server outage (0: skip)")
    parser.add_argument("--outage-seconds", type=float, default=300.0)
    parser.add_argument("--database-url", help="an empty database to fill (its tables are "
                        "emptied of reminders first)")
    args = parser.parse_args()
    global DATABASE_URL
    DATABASE_URL = args.database_url
    import logging
    logging.basicConfig(level=logging.WARNING)
    port = free_port()
    server = smtp_server(port)
    try:
        if args.drain:
            drain(args.drain, port)
        if args.spread:
            spread(args.spread, args.seconds, port)
        if args.outage:
            outage(args.outage, args.outage_seconds)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
