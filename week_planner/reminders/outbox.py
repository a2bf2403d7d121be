"""The outbox: the truth about every reminder and change notice, one row per message to
one recipient, under a UNIQUE key made only of stable values.

- ``reconcile(engine, programmes, …)`` — after every (re)load and subscription change:
  inserts new rows (insert-or-ignore), cancels pending rows no longer wanted, revives
  cancelled ones wanted again, and queues one change notice per subscriber when an
  occurrence moves, changes venue or is cancelled. Each programme is planned on its own.
- ``claim`` / ``release`` / ``finish`` — rows are claimed atomically (SQLite
  ``BEGIN IMMEDIATE``, PostgreSQL ``FOR UPDATE SKIP LOCKED``) with a lease, and marked in
  their own transaction right after the server accepts (reminders/sending.py).

What is wanted comes from reminders/planning.py; who subscribed, from
reminders/subscribers.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import and_, delete, func, or_, select, update
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
            (row.kind == "reminder" and key not in wanted) or
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

        for programme in programmes:
            try:
                # A savepoint: a programme whose notices fail half way leaves no half.
                with connection.begin_nested():
                    result.notices += _notices(connection, programme,
                                               subs.get(programme.id, ()), now, base_url,
                                               channels or {})
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

def due_query(now: dt.datetime, limit: int, dialect: str):
    """The rows to claim. SQLite: the caller's ``BEGIN IMMEDIATE`` already excludes every
    other writer; PostgreSQL: rows another process has locked are skipped, not waited for."""
    out = reminder_outbox.c
    query = (select(reminder_outbox)
             .where(or_(and_(out.status == PENDING, out.next_attempt_at <= now),
                        and_(out.status == SENDING, out.lease_until <= now)))
             .order_by(out.next_attempt_at, out.id).limit(limit))
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def claim(engine: Engine, now: dt.datetime, limit: int, lease: float,
          worker: str) -> list[Mapping[str, Any]]:
    """Take up to ``limit`` due rows for this process. Rows whose event has started are
    marked missed (or failed, after errors) instead of being sent late."""
    out = reminder_outbox.c
    with write_transaction(engine) as connection:
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


def release(engine: Engine, row_ids: list[int], worker: str, now: dt.datetime) -> None:
    """Give back claimed rows not yet tried, for any process to take at once."""
    if not row_ids:
        return
    out = reminder_outbox.c
    with write_transaction(engine) as connection:
        connection.execute(update(reminder_outbox).where(
            out.id.in_(row_ids), out.status == SENDING, out.sent_by == worker)
            .values(status=PENDING, lease_until=None, attempts=out.attempts - 1,
                    updated_at=now))


def retry_delay(delays: list[int], attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=delays[min(max(attempts, 1), len(delays)) - 1])


# -- subscribers --------------------------------------------------------------------------





















# -- the application side -----------------------------------------------------------------





