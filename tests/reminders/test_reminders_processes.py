"""The scheduler as real processes on one database (a SQLite file, and PostgreSQL): two of
them side by side, and one stopped by SIGTERM or SIGINT with a backlog (the drill is in
conftest.py; crashes are in test_reminders_crashes.py). Clocks are shifted with
time-machine so the reminders fall due a few seconds after the processes start."""

from __future__ import annotations

import collections
import signal
import time

import pytest
from reminder_helpers import drill_logs, free_port


def test_two_schedulers_share_the_work_and_send_nothing_twice(drill):
    drill.add_subscribers(600)
    first, second = drill.start(), drill.start()
    assert drill.server.mailbox.wait_for(600, timeout=120), drill_logs(drill.tmp_path)
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
    assert drill.server.mailbox.wait_for(100, timeout=60), drill_logs(drill.tmp_path)
    process.wait(timeout=60)
    stopped_in = time.monotonic() - signalled[0]
    drill.server.mailbox.on_stored = None
    accepted = drill.server.mailbox.count()
    statuses = collections.Counter(row.status for row in drill.rows())
    print(f"{command[0]}, signal {stop_signal.name}: exited {stopped_in:.2f} s after it, "
          f"{accepted} sent, {statuses['pending']} given back")
    assert process.returncode == 0, drill_logs(drill.tmp_path)
    assert stopped_in <= 10
    assert set(statuses) == {"sent", "pending"}, statuses  # none left "sending"
    assert statuses["sent"] == accepted <= 105  # the one under way finished, few after

    given_back = [row for row in drill.rows() if row.status == "pending"]
    assert given_back and all(row.lease_until is None for row in given_back)
    if (command[0], stop_signal) != ("scheduler", signal.SIGTERM):
        return  # the rows are given back as above; another sending them is shown once
    drill.server.mailbox.delay = 0.003
    drill.start()
    assert drill.wait_until_all_sent(1000, timeout=300), drill_logs(drill.tmp_path)
    messages = drill.server.mailbox.parsed()
    assert len(messages) == 1000 and len({m["To"] for m in messages}) == 1000
