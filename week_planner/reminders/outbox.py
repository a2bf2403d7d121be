"""The outbox: the truth about every reminder and change notice, one row per message to
one recipient, under a UNIQUE key made only of stable values.

- ``reconcile(engine, programmes, …)`` — after every (re)load and subscription change:
  inserts new rows (insert-or-ignore), cancels pending rows no longer wanted, revives
  cancelled ones wanted again, and queues one change notice per subscriber when an
  occurrence moves, changes venue or is cancelled. Each programme is planned on its own.
- ``claim`` / ``renew`` / ``recover`` / ``release`` / ``_finish`` — rows are claimed
  atomically (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``FOR UPDATE SKIP LOCKED``) with a
  short lease that the claimant renews while it sends, taken over when it runs out or
  when the claimant is known to be gone, given back on a clean stop, and marked in their
  own transaction right after the server accepts (reminders/sending.py).
- ``wake_unreachable`` / ``retry_delay`` — when a failed row is tried again.

What is wanted comes from reminders/planning.py; who subscribed, from
reminders/subscribers.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from week_planner.faults import Faults
from week_planner.reminders.planning import (
    ALREADY_SENT,
    NOT_WANTED,
    SUPERSEDED,
    UTC,
    Subscriber,
    Wanted,
    digest,
    notice_worthy,
    occurrence_states,
    plan,
    recipients_for,
    too_late_at,
)
from week_planner.schedule.model import Programme
from week_planner.store import (
    reminder_occurrences,
    reminder_outbox,
    subscribers,
    write_transaction,
)

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, CANCELLED, MISSED = (
    "pending", "sending", "sent", "failed", "cancelled", "missed")

Clock = Callable[[], dt.datetime]




# -- planning (pure) ----------------------------------------------------------------------



























# -- reconciliation -----------------------------------------------------------------------

@dataclass
class ReconcileResult:
    inserted: int = 0
    cancelled: int = 0
    revived: int = 0
    notices: int = 0


def confirmed_subscribers(connection: Connection,
                          programme_ids: Iterable[str]) -> dict[str, list[Subscriber]]:
    rows = connection.execute(
        select(subscribers.c.id, subscribers.c.programme_id, subscribers.c.scope,
               subscribers.c.channel, subscribers.c.address)
        .where(subscribers.c.programme_id.in_(list(programme_ids)),
               subscribers.c.confirmed_at.is_not(None))
        .order_by(subscribers.c.id)).all()
    found: dict[str, list[Subscriber]] = {}
    for row in rows:
        found.setdefault(row.programme_id, []).append(Subscriber(*row))
    return found


def _insert_ignore(connection: Connection, table, rows: list[dict]) -> None:
    if not rows:
        return
    name = connection.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - other databases: one at a time
        for row in rows:
            if connection.execute(select(table.c.id).where(
                    table.c.key == row["key"])).first() is None:
                connection.execute(table.insert().values(**row))
        return
    for start in range(0, len(rows), 500):
        connection.execute(insert(table).on_conflict_do_nothing(), rows[start:start + 500])


def reconcile(engine: Engine, programmes: Iterable[Programme], *, now: dt.datetime,
              base_url: str, all_day_hour: int = 8,
              channels: Mapping[str, Sequence[str]] | None = None,
              prune_others: bool = False, faults: Faults | None = None) -> ReconcileResult:
    """Bring the outbox in step with ``programmes`` (every programme being served).
    ``prune_others``: cancel pending rows of programmes not among them (set it only when
    every schedule file loaded, so a file with errors does not lose its reminders).
    ``channels`` None: the organiser channels are not known here (a command run without
    the server's settings, a subscription confirmed): their reminders are left as they
    are, and no change notice is queued (a later reconciliation with them tells it).

    Each programme is planned on its own: one that raises is recorded in ``faults`` (and
    logged), keeps the rows it had, and the others are planned as usual."""
    programmes = list(programmes)
    served = [programme.id for programme in programmes]
    faults = faults if faults is not None else Faults()
    result = ReconcileResult()
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            # One reconciliation at a time (SQLite: BEGIN IMMEDIATE already does this).
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4243)")
        subs = confirmed_subscribers(connection, served)
        wanted: dict[str, Wanted] = {}
        planned = []
        for programme in programmes:
            try:
                items = plan(programme, subs.get(programme.id, ()), all_day_hour, channels)
            except Exception as error:
                faults.record(programme.id, "reminder-planning", programme.source,
                              programme.version, error)
                continue
            faults.clear(programme.id, "reminder-planning")
            planned.append(programme)
            for item in items:
                wanted[item.key] = item
        programmes = planned
        ids = [programme.id for programme in programmes]
        out = reminder_outbox.c
        existing = {row.key: row for row in connection.execute(
            select(out.id, out.key, out.kind, out.status, out.last_error, out.subscriber_id,
                   out.occurrence_start, out.due_at, out.offset_seconds, out.programme_id,
                   out.occurrence_key, out.channel, out.recipient)
            .where(out.programme_id.in_(ids)))}
        # Reminders an organiser channel has had, by channel name: when one of its URLs is
        # replaced (a new bot token), the new URL is a new recipient, and a reminder already
        # due must not reach the same group a second time.
        channel_sent = {(row.programme_id, row.occurrence_key, row.occurrence_start,
                         row.offset_seconds, row.recipient.partition("/")[0])
                        for row in existing.values()
                        if row.kind == "reminder" and row.channel == "apprise"
                        and row.status == SENT}

        # New rows. A reminder already due when it is first planned (a late subscription,
        # a new event) goes out at once only if no later one for the same occurrence and
        # recipient follows: no "1 day before" three hours before, then "2 hours before".
        latest_due: dict[tuple, dt.datetime] = {}
        for item in wanted.values():
            group = (item.programme_id, item.occurrence_key, item.channel, item.recipient)
            latest_due[group] = max(latest_due.get(group, item.due_at), item.due_at)
        new_rows = []
        for key, item in wanted.items():
            if key in existing:
                continue
            status, error = PENDING, None
            if too_late_at("reminder", item.occurrence_start, item.due_at,
                           item.offset_seconds) <= now:
                status = MISSED
            elif _superseded(item, latest_due, now):
                status, error = CANCELLED, SUPERSEDED
            elif item.channel == "apprise" and item.due_at <= now and (
                    item.programme_id, item.occurrence_key, item.occurrence_start,
                    item.offset_seconds, item.recipient.partition("/")[0]) in channel_sent:
                status, error = CANCELLED, ALREADY_SENT
            new_rows.append(_row(item, status, error, now))
        _insert_ignore(connection, reminder_outbox, new_rows)
        result.inserted = sum(row["status"] == PENDING for row in new_rows)

        # Rows wanted again (event restored, address subscribed again).
        revive = [(row.id, wanted[key]) for key, row in existing.items()
                  if key in wanted and row.kind == "reminder" and row.status == CANCELLED
                  and row.last_error == NOT_WANTED
                  and too_late_at(row.kind, row.occurrence_start, row.due_at,
                                  row.offset_seconds) > now
                  and not _superseded(wanted[key], latest_due, now)]
        for row_id, item in revive:
            connection.execute(update(reminder_outbox).where(out.id == row_id).values(
                status=PENDING, last_error=None, recipient=item.recipient,
                subscriber_id=item.subscriber_id, next_attempt_at=item.due_at,
                updated_at=now))
        result.revived = len(revive)

        # Rows no longer wanted; notices to addresses that unsubscribed.
        subscriber_ids = {s.id for group in subs.values() for s in group}
        cancel = [row.id for key, row in existing.items() if row.status == PENDING and (
            (row.kind == "reminder" and key not in wanted
             and (channels is not None or row.channel != "apprise")) or
            (row.kind == "notice" and row.subscriber_id is not None
             and row.subscriber_id not in subscriber_ids))]
        if prune_others:
            # Sign-in mail of the organisers' desk belongs to no programme
            # (reminders/sign_in_links.py).
            cancel += [row.id for row in connection.execute(
                select(out.id).where(out.status == PENDING, out.kind != "sign-in",
                                     out.programme_id.not_in(served)))]
        for start in range(0, len(cancel), 500):
            connection.execute(update(reminder_outbox).where(
                out.id.in_(cancel[start:start + 500]), out.status == PENDING).values(
                status=CANCELLED, last_error=NOT_WANTED, updated_at=now))
        result.cancelled = len(cancel)

        # Change notices go to subscribers and organiser channels alike, and recording
        # that a change was told is done once: without the channels it waits for a
        # reconciliation that knows them (the scheduler's).
        for programme in programmes if channels is not None else ():
            try:
                # A savepoint: a programme whose notices fail half way leaves no half.
                with connection.begin_nested():
                    result.notices += _notices(connection, programme,
                                               subs.get(programme.id, ()), now, base_url,
                                               channels)
            except Exception as error:
                faults.record(programme.id, "change-notices", programme.source,
                              programme.version, error)
            else:
                faults.clear(programme.id, "change-notices")
    if result.inserted or result.cancelled or result.revived or result.notices:
        log.info("reminders reconciled: %d new, %d cancelled, %d restored, %d notices",
                 result.inserted, result.cancelled, result.revived, result.notices)
    return result


def _superseded(item: Wanted, latest_due: Mapping[tuple, dt.datetime],
                now: dt.datetime) -> bool:
    group = (item.programme_id, item.occurrence_key, item.channel, item.recipient)
    return item.due_at <= now and item.due_at < latest_due.get(group, item.due_at)


def _row(item: Wanted, status: str, error: str | None, now: dt.datetime) -> dict:
    return {"key": item.key, "kind": "reminder", "programme_id": item.programme_id,
            "event_id": item.event_id, "occurrence_key": item.occurrence_key,
            "occurrence_start": item.occurrence_start, "offset_seconds": item.offset_seconds,
            "channel": item.channel, "recipient": item.recipient,
            "subscriber_id": item.subscriber_id, "detail": None, "due_at": item.due_at,
            "next_attempt_at": item.due_at, "status": status, "attempts": 0,
            "last_error": error, "lease_until": None, "created_at": now, "updated_at": now,
            "sent_at": None, "sent_by": None}


def _notices(connection: Connection, programme: Programme,
             programme_subscribers: Iterable[Subscriber], now: dt.datetime,
             base_url: str, channels: Mapping[str, Sequence[str]]) -> int:
    """Compare each occurrence with what was planned last time; queue one notice per
    recipient for each change before the (old) start."""
    if programme.draft:
        return 0
    programme_subscribers = list(programme_subscribers)
    occ = reminder_occurrences.c
    old_rows = connection.execute(select(occ.occurrence_key, occ.state, occ.updated_at)
                                  .where(occ.programme_id == programme.id)).all()
    old_states = {row.occurrence_key: json.loads(row.state) for row in old_rows}
    # When each old state was recorded: part of a notice's key, so that a change made
    # again after being undone (16:00 → 18:00 → 16:00 → 18:00) is told again.
    recorded = {row.occurrence_key: row.updated_at.isoformat() for row in old_rows}
    new_states = occurrence_states(programme, base_url)
    rows, count = [], 0
    for key, old in old_states.items():
        new = new_states.get(key)
        if new is None and old.get("status") == "removed":
            continue
        if not notice_worthy(old, new):
            continue
        old_start = dt.datetime.fromisoformat(old["start"])
        if old_start <= now:
            continue
        deadline = old_start if new is None or new["status"] == "cancelled" else \
            dt.datetime.fromisoformat(new["start"])
        if deadline <= now:
            continue
        change = digest(json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True),
                        recorded[key])
        detail = json.dumps({"old": old, "new": new}, ensure_ascii=False)
        # The organiser channels the event notified before or after the change: a group
        # told "16:00" hears of "18:00".
        notify = [*old.get("notify", ()), *(new or {}).get("notify", ())]
        for channel, recipient, subscriber_id in recipients_for(
                old["event_id"], old["category_id"], notify, programme_subscribers, channels):
            rows.append({
                "key": digest("notice", programme.id, key, change, channel, recipient),
                "kind": "notice", "programme_id": programme.id, "event_id": old["event_id"],
                "occurrence_key": key, "occurrence_start": deadline, "offset_seconds": 0,
                "channel": channel, "recipient": recipient, "subscriber_id": subscriber_id,
                "detail": detail, "due_at": now, "next_attempt_at": now, "status": PENDING,
                "attempts": 0, "last_error": None, "lease_until": None, "created_at": now,
                "updated_at": now, "sent_at": None, "sent_by": None})
            count += 1
    _insert_ignore(connection, reminder_outbox, rows)

    # Remember what was planned now; a removed occurrence is kept as "removed" so that
    # its return is noticed too.
    stored = dict(new_states)
    for key, old in old_states.items():
        if key not in stored:
            stored[key] = {**old, "status": "removed"}
    changed = [(key, state) for key, state in stored.items() if old_states.get(key) != state]
    if changed:
        connection.execute(delete(reminder_occurrences).where(
            occ.programme_id == programme.id, occ.occurrence_key.in_([k for k, _ in changed])))
        connection.execute(reminder_occurrences.insert(), [
            {"programme_id": programme.id, "occurrence_key": key,
             "event_id": state["event_id"], "state": json.dumps(state, ensure_ascii=False,
                                                                 sort_keys=True),
             "updated_at": now} for key, state in changed])
    return count


# -- claiming -----------------------------------------------------------------------------
#
# A claim is a lease: rows in "sending" carry the name of the process that took them
# (``sent_by``, see reminders/workers.py) and the moment it may be taken over
# (``lease_until``). The claimant renews the lease while it sends (``renew``), so the lease
# can be short: rows of a process that died are taken over soon after its last renewal,
# or at once by a process on the same machine that sees the claimant is gone (``recover``).
# A claimant sends its rows one at a time, in claim order, and records each outcome at
# once; so of the rows it left behind only the first can have been under way.

# The note on a row that was under way when its claimant stopped: it may have gone out.
MAYBE_SENT = "its sender stopped while sending it; it may have been delivered"
# The prefix of the error of a row held back because the server could not be reached:
# such rows become due again as soon as a send over the same channel succeeds.
UNREACHABLE = "unreachable: "


def due_query(now: dt.datetime, limit: int, dialect: str):
    """The rows to claim. SQLite: the caller's ``BEGIN IMMEDIATE`` already excludes every
    other writer; PostgreSQL: rows another process has locked are skipped, not waited for."""
    out = reminder_outbox.c
    query = (select(reminder_outbox)
             .where(out.status == PENDING, out.next_attempt_at <= now)
             .order_by(out.next_attempt_at, out.id).limit(limit))
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def _give_back(connection: Connection, where, now: dt.datetime) -> dict[str, int]:
    """Rows claimed by processes that are gone, back to pending: the first unfinished row
    of each keeps its attempt and the note ``MAYBE_SENT`` (if its event begins before it is
    sent again, it is recorded as failed, never as missed); the others were not tried.
    Returns how many rows each claimant left."""
    out = reminder_outbox.c
    query = (select(out.id, out.sent_by).where(out.status == SENDING, where)
             .order_by(out.next_attempt_at, out.id))
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    left: dict[str, list[int]] = {}
    for row in connection.execute(query):
        left.setdefault(row.sent_by or "", []).append(row.id)
    maybe_sent = [ids[0] for ids in left.values()]
    untried = [row_id for ids in left.values() for row_id in ids[1:]]
    if maybe_sent:
        connection.execute(update(reminder_outbox).where(out.id.in_(maybe_sent)).values(
            status=PENDING, lease_until=None, last_error=MAYBE_SENT, updated_at=now))
    for start in range(0, len(untried), 500):
        connection.execute(update(reminder_outbox)
                           .where(out.id.in_(untried[start:start + 500]))
                           .values(status=PENDING, lease_until=None,
                                   attempts=out.attempts - 1, updated_at=now))
    for claimant, ids in left.items():
        log.info("%d reminder(s) claimed by %s, which stopped, taken over", len(ids),
                 claimant)
    return {claimant: len(ids) for claimant, ids in left.items()}


def claim(engine: Engine, now: dt.datetime, limit: int, lease: float,
          worker: str) -> list[Mapping[str, Any]]:
    """Take up to ``limit`` due rows for this process, after taking over the claims whose
    lease ran out. Rows whose event has started are marked instead of being sent late:
    missed when no attempt was made, failed after errors or an attempt that may have
    reached the recipient."""
    out = reminder_outbox.c
    with write_transaction(engine) as connection:
        _give_back(connection, out.lease_until <= now, now)
        query = due_query(now, limit, connection.dialect.name)
        rows = connection.execute(query).mappings().all()
        late, taken = [], []
        for row in rows:
            (late if too_late_at(row["kind"], row["occurrence_start"], row["due_at"],
                                 row["offset_seconds"]) <= now else taken).append(row)
        for row in late:
            connection.execute(update(reminder_outbox).where(out.id == row["id"]).values(
                status=FAILED if row["last_error"] else MISSED, lease_until=None,
                updated_at=now))
            log.warning("reminder %d (%s, %s) %s: the event has started", row["id"],
                        row["programme_id"], row["occurrence_key"],
                        "failed" if row["last_error"] else "missed")
        if taken:
            connection.execute(update(reminder_outbox)
                               .where(out.id.in_([row["id"] for row in taken]))
                               .values(status=SENDING, attempts=out.attempts + 1,
                                       lease_until=now + dt.timedelta(seconds=lease),
                                       sent_by=worker, updated_at=now))
    return [dict(row, attempts=row["attempts"] + 1) for row in taken]


def renew(engine: Engine, worker: str, now: dt.datetime, lease: float) -> int:
    """Extend the lease of every row this process holds (its heartbeat)."""
    out = reminder_outbox.c
    with write_transaction(engine) as connection:
        return connection.execute(update(reminder_outbox).where(
            out.status == SENDING, out.sent_by == worker).values(
            lease_until=now + dt.timedelta(seconds=lease))).rowcount


def recover(engine: Engine, now: dt.datetime, is_gone: Callable[[str], bool]
            ) -> dict[str, int]:
    """Take over at once the claims of processes known to be gone (``is_gone``: same
    machine, pid no longer running), without waiting for their lease."""
    out = reminder_outbox.c
    with engine.connect() as connection:
        claimants = connection.execute(select(out.sent_by).distinct()
                                       .where(out.status == SENDING)).scalars().all()
    dead = [claimant for claimant in claimants if claimant and is_gone(claimant)]
    if not dead:
        return {}
    with write_transaction(engine) as connection:
        return _give_back(connection, out.sent_by.in_(dead), now)


def next_due(engine: Engine) -> dt.datetime | None:
    """When the next row becomes due (or a lease runs out)."""
    out = reminder_outbox.c
    with engine.connect() as connection:
        pending = connection.execute(select(func.min(out.next_attempt_at))
                                     .where(out.status == PENDING)).scalar()
        leased = connection.execute(select(func.min(out.lease_until))
                                    .where(out.status == SENDING)).scalar()
    times = [moment for moment in (pending, leased) if moment is not None]
    return min(times).replace(tzinfo=UTC) if times else None


def _finish(engine: Engine, row_id: int, worker: str, **values) -> None:
    """Record an outcome, if the row is still this process's claim."""
    with write_transaction(engine) as connection:
        connection.execute(update(reminder_outbox).where(
            reminder_outbox.c.id == row_id, reminder_outbox.c.status == SENDING,
            reminder_outbox.c.sent_by == worker).values(lease_until=None, **values))


def release(engine: Engine, row_ids: list[int] | None, worker: str,
            now: dt.datetime) -> int:
    """Give back claimed rows not yet tried, for any process to take at once
    (``row_ids`` None: every row this process holds)."""
    if row_ids is not None and not row_ids:
        return 0
    out = reminder_outbox.c
    which = [out.status == SENDING, out.sent_by == worker]
    if row_ids is not None:
        which.append(out.id.in_(row_ids))
    with write_transaction(engine) as connection:
        return connection.execute(update(reminder_outbox).where(*which).values(
            status=PENDING, lease_until=None, attempts=out.attempts - 1,
            updated_at=now)).rowcount


def wake_unreachable(engine: Engine, channel: str, now: dt.datetime) -> int:
    """Rows held back only because the server of ``channel`` could not be reached become
    due at once (a send over it has just succeeded)."""
    out = reminder_outbox.c
    held_back = (out.status == PENDING, out.channel == channel, out.next_attempt_at > now,
                 out.last_error.startswith(UNREACHABLE, autoescape=True))
    with engine.connect() as connection:  # mostly there are none: no write lock for that
        if connection.execute(select(out.id).where(*held_back).limit(1)).first() is None:
            return 0
    with write_transaction(engine) as connection:
        return connection.execute(update(reminder_outbox).where(*held_back)
                                  .values(next_attempt_at=now)).rowcount


def retry_delay(delays: Sequence[float], attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt; the last delay repeats."""
    return dt.timedelta(seconds=delays[min(max(attempts, 1), len(delays)) - 1])


# -- subscribers --------------------------------------------------------------------------





















# -- the application side -----------------------------------------------------------------





