"""How long the subscription forms take to answer, by the state of the address or number,
against a local SMTP server (aiosmtpd) and SMS gateway (an HTTP server) that each take
``--delay`` seconds to accept a message, as a distant server does.

For mail and SMS it prints the median answer to the form's POST for an address never
seen, one already asked for (pending) and one already confirmed; the three must be alike,
or a stranger learns from the time who is subscribed. Then, with the reminder scheduler
running in the same process (as ``week-planner serve`` runs it), how long after the
answer the confirmation mail reaches the server.

Usage: python benchmarks/forms.py [--repeat N] [--delay SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import zoneinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
zoneinfo.reset_tzpath(to=[])

from aiosmtpd.controller import Controller  # noqa: E402

from week_planner import create_app  # noqa: E402
from week_planner.reminders.scheduler import start_background  # noqa: E402
from week_planner.reminders.subscribers import add_subscriber  # noqa: E402
from week_planner.store import app_engine  # noqa: E402

UTC = dt.timezone.utc
BEFORE_THE_WEEK = dt.datetime(2025, 8, 25, 9, 0, tzinfo=UTC)
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlowMailbox:
    def __init__(self, delay: float):
        self.delay = delay
        self.arrivals: dict[str, float] = {}  # recipient → when its mail was accepted

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        for recipient in envelope.rcpt_tos:
            self.arrivals.setdefault(recipient, time.perf_counter())
        return "250 Message accepted for delivery"


def slow_gateway(delay: float) -> ThreadingHTTPServer:
    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_app(folder: Path, smtp_port: int, gateway_port: int):
    schedules = folder / "schedules"
    schedules.mkdir(parents=True)
    (schedules / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    channels = folder / "channels.yaml"
    channels.write_text(json.dumps({"sms": [f"json://127.0.0.1:{gateway_port}/sms/{{phone}}"]}),
                        encoding="utf-8")
    return create_app({"SCHEDULES_DIR": str(schedules), "INSTANCE_DIR": str(folder / "instance"),
                       "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "CHANNELS": str(channels),
                       "BASE_URL": "https://hafte.example.ir", "RELOAD_INTERVAL": 60,
                       "SUBSCRIBE_RATE_LIMIT": 10**6, "CLOCK": lambda: BEFORE_THE_WEEK,
                       "SCHEDULE_SETTLE_SECONDS": 0})


def poster(app):
    client = app.test_client()
    html = client.get("/khalilabad-1404/remind/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)

    def post(channel: str, address: str):
        start = time.perf_counter()
        response = client.post("/khalilabad-1404/remind/", data={
            "csrf_token": token, "scope": "programme", "channel": channel, "address": address})
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code in (200, 302), response.status_code
        return elapsed, response
    return post


def forms(app, repeat: int) -> None:
    post = poster(app)
    engine = app_engine(app)
    now = dt.datetime.now(UTC)
    add_subscriber(engine, "khalilabad-1404", "programme", "email", "confirmed@example.org",
                   "organiser", now, confirmed=True)
    add_subscriber(engine, "khalilabad-1404", "programme", "sms", "09120000001",
                   "organiser", now, confirmed=True)
    post("email", "pending@example.org")
    post("sms", "09120000002")
    cases = {
        "mail, new address": lambda n: post("email", f"new{n}@example.org"),
        "mail, pending": lambda n: post("email", "pending@example.org"),
        "mail, confirmed": lambda n: post("email", "confirmed@example.org"),
        "SMS, new number": lambda n: post("sms", f"0912{n:07d}"),
        "SMS, pending": lambda n: post("sms", "09120000002"),
        "SMS, confirmed": lambda n: post("sms", "09120000001"),
    }
    for case in cases.values():
        case(10**6 - 1)  # one untimed round
    # Round by round, each case once: a busy moment of the machine falls on all alike.
    times: dict[str, list[float]] = {name: [] for name in cases}
    for n in range(repeat):
        for name, case in cases.items():
            times[name].append(case(n)[0])
    for name, samples in times.items():
        print(f"{name:20} median {statistics.median(samples):7.1f} ms, "
              f"max {max(samples):7.1f} ms")


def delivery(app, mailbox: SlowMailbox, repeat: int) -> None:
    """Answer time and arrival of the mail, with the scheduler running as under serve (on
    an application of its own, so that nothing queued before is in the way)."""
    scheduler = start_background(app)
    try:
        post = poster(app)
        lateness = []
        for n in range(repeat):
            address = f"served{n}@example.org"
            start = time.perf_counter()
            post("email", address)
            deadline = time.perf_counter() + 60
            while address not in mailbox.arrivals and time.perf_counter() < deadline:
                time.sleep(0.002)
            if address not in mailbox.arrivals:
                raise SystemExit("the confirmation mail did not arrive within a minute")
            lateness.append((mailbox.arrivals[address] - start) * 1000)
        print(f"with the scheduler in the process: the mail reached the server "
              f"{statistics.median(lateness):.0f} ms (median; max {max(lateness):.0f} ms) "
              "after the form was sent")
    finally:
        scheduler.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    import logging
    logging.basicConfig(level=logging.ERROR)
    mailbox = SlowMailbox(args.delay)
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    gateway = slow_gateway(args.delay)
    try:
        with tempfile.TemporaryDirectory() as folder:
            app = make_app(Path(folder) / "forms", smtp.port, gateway.server_address[1])
            print(f"SMTP server and SMS gateway answering after {args.delay * 1000:.0f} ms; "
                  f"{args.repeat} requests each")
            forms(app, args.repeat)
            app_engine(app).dispose()
            app = make_app(Path(folder) / "served", smtp.port, gateway.server_address[1])
            delivery(app, mailbox, max(3, args.repeat // 4))
            app_engine(app).dispose()
    finally:
        smtp.stop()
        gateway.shutdown()


if __name__ == "__main__":
    main()
