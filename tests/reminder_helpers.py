"""Shared pieces of the reminder tests: a real SMTP server (aiosmtpd) on loopback, a
shiftable clock, a small one-event programme and the scheduler run as a real process."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.timezone.utc

DRILL_YAML = """\
programme:
  id: drill-1404
  title: آزمون یادآوری
  organiser: اداره تعاون، کار و رفاه اجتماعی
  timezone: Asia/Tehran
  from: 1404-07-01
  to: 1404-07-01
categories:
  meeting: {label: نشست}
events:
  - id: meeting
    title: نشست هم‌اندیشی
    category: meeting
    date: 1404-07-01
    start: "10:00"
    end: "11:00"
    venue: {name: سالن فرمانداری, address: خیابان امام}
    reminders: [30m]
"""
# 1404-07-01 10:00 in Tehran (UTC+03:30); the 30 min reminder is due at 06:00 UTC.
DRILL_START = dt.datetime(2025, 9, 23, 6, 30, tzinfo=UTC)
DRILL_DUE = DRILL_START - dt.timedelta(minutes=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every accepted message, in order, with its arrival time.
    ``answer`` may be set to a reply such as "451 try later" to refuse messages."""

    def __init__(self, delay: float = 0.0):
        self.messages: list[tuple[float, bytes]] = []
        self.recipients: set[str] = set()  # envelope recipients, cheap to poll
        self.answer: str | None = None
        self.on_stored = None  # called with the count after each message is kept
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.answer:
            return self.answer
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append((time.time(), envelope.original_content or envelope.content))
            self.recipients.update(envelope.rcpt_tos)
            count = len(self.messages)
        if self.on_stored is not None:
            self.on_stored(count)  # the message is kept; the client has no answer yet
        return "250 Message accepted for delivery"

    def parsed(self) -> list[email.message.EmailMessage]:
        with self.lock:
            raw = [content for _, content in self.messages]
        return [email.message_from_bytes(content, policy=email.policy.default) for content in raw]

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= count:
                return True
            time.sleep(0.01)
        return self.count() >= count


class SmtpServer:
    def __init__(self, port: int | None = None, delay: float = 0.0):
        self.port = port or free_port()
        self.mailbox = Mailbox(delay)
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class ShiftClock:
    """Real time, shifted: ``set(moment)`` makes now read ``moment`` and then tick on."""

    def __init__(self, moment: dt.datetime):
        self.shift = dt.timedelta()
        self.set(moment)

    def set(self, moment: dt.datetime) -> None:
        self.shift = moment - dt.datetime.now(UTC)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(UTC) + self.shift


def scheduler_process(env: dict[str, str], shift_seconds: float, log_path: Path,
                      command: tuple[str, ...] = ("scheduler",)) -> subprocess.Popen:
    """``week-planner scheduler`` (or another ``command`` that sends reminders, such as
    ``serve``) in its own process, its clock shifted by time-machine."""
    code = (
        "import datetime as dt, sys, zoneinfo\n"
        "zoneinfo.reset_tzpath(to=[])\n"
        "import time_machine\n"
        f"destination = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds={shift_seconds!r})\n"
        # Started, never stopped: the clock stays shifted until the process has exited,
        # threads finishing after main() included.
        "time_machine.travel(destination, tick=True).start()\n"
        "from week_planner.cli import main\n"
        f"main({list(command)!r})\n")
    with open(log_path, "ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                                env={**os.environ, **env}, stdout=handle,
                                stderr=subprocess.STDOUT)


def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(timeout=10)


def drill_logs(tmp_path) -> str:
    return "\n".join(path.read_text(errors="replace")[-3000:]
                     for path in sorted(tmp_path.glob("scheduler-*.log")))


def one_each_or_a_same_id_duplicate(messages, count: int) -> int:
    """Every address got its reminder; one that got it twice got the same Message-ID.
    Returns the number of duplicates."""
    by_address = collections.defaultdict(list)
    for message in messages:
        by_address[message["To"]].append(message["Message-ID"])
    assert len(by_address) == count
    for ids in by_address.values():
        assert len(ids) <= 2 and len(set(ids)) == 1, ids
    return len(messages) - count
