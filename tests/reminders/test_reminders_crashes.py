"""The scheduler as real processes on one database (a SQLite file, and PostgreSQL), killed
with SIGKILL in the middle of a batch: restarted at once, or beside a peer that carries
on. Nothing is lost and a kill costs at most one duplicate, with the same Message-ID (the
drill is in conftest.py)."""

from __future__ import annotations

import collections
import os
import signal
import time

from reminder_helpers import drill_logs, one_each_or_a_same_id_duplicate


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
    assert drill.server.mailbox.wait_for(101, timeout=30), drill_logs(drill.tmp_path)
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
    assert len(by_address) == 500, drill_logs(drill.tmp_path)
    duplicates = {to: ids for to, ids in by_address.items() if len(ids) > 1}
    assert len(messages) == 501 and len(duplicates) == 1, duplicates
    (ids,) = duplicates.values()
    assert len(ids) == 2 and ids[0] == ids[1]  # the duplicate carries the same Message-ID
    assert {row.status for row in drill.rows()} == {"sent"}
    print(f"killed after {accepted_at_kill} accepted; {len(messages) - 500} duplicate(s)")


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
        assert drill.server.mailbox.wait_for(threshold, timeout=60), drill_logs(drill.tmp_path)
        victim.wait(timeout=10)
        drill.server.mailbox.on_stored = None
        kills.append(drill.server.mailbox.count())
        process = drill.start()  # restarted at once
    assert drill.wait_until_all_sent(1000, timeout=300), drill_logs(drill.tmp_path)

    duplicates = one_each_or_a_same_id_duplicate(drill.server.mailbox.parsed(), 1000)
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
    assert drill.server.mailbox.wait_for(200, timeout=60), drill_logs(drill.tmp_path)
    first.wait(timeout=10)
    drill.server.mailbox.on_stored = None
    assert drill.wait_until_all_sent(600, timeout=240), drill_logs(drill.tmp_path)
    finished_in = time.monotonic() - killed_at[0]

    duplicates = one_each_or_a_same_id_duplicate(drill.server.mailbox.parsed(), 600)
    assert duplicates <= 1
    rows = drill.rows()
    assert all(row.sent_at < row.occurrence_start for row in rows)
    assert second.poll() is None
    print(f"all sent {finished_in:.1f} s after the kill; {duplicates} duplicate(s)")
