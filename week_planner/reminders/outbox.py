"""Reminders: which are wanted, keeping the outbox in step, and sending the due ones.

The truth is the outbox table (``store.reminder_outbox``), one row per reminder or change
notice to one recipient, under a UNIQUE key made only of stable values. The parts:

- ``plan(programme, subscribers)`` — pure: the reminders the programme wants now.
- ``reconcile(engine, programmes, …)`` — after every (re)load and subscription change:
  inserts new rows (insert-or-ignore), cancels pending rows no longer wanted, revives
  cancelled ones wanted again, and queues one change notice per subscriber when an
  occurrence moves, changes venue or is cancelled.
- ``claim`` / ``Sender.send_due`` — the edge: rows are claimed atomically (SQLite
  ``BEGIN IMMEDIATE``, PostgreSQL ``FOR UPDATE SKIP LOCKED``) with a lease, sent, and
  marked ``sent`` in their own transaction right after the server accepts.

``Reminders(app)`` binds these to an application (engine, registry, settings, clock).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Engine

from . import jalali
from .channels import DeliveryError, read_channels, send_apprise, send_sms, sms_template
from .faults import Faults, faults_of
from .model import Occurrence, Programme
from .calendar_views import event_calendar
from .store import (rate_hits, reminder_occurrences, reminder_outbox, subscribers,
                    write_transaction)

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
PENDING, SENDING, SENT, FAILED, CANCELLED, MISSED = (
    "pending", "sending", "sent", "failed", "cancelled", "missed")
NOT_WANTED = "no longer wanted"
SUPERSEDED = "late when planned; a later reminder follows"
ALREADY_SENT = "already sent to this channel before its URL changed"

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


# -- planning (pure) ----------------------------------------------------------------------

@dataclass(frozen=True)
class Subscriber:
    id: int
    programme_id: str
    scope: str  # "programme", "category:<id>" or "event:<id>"
    channel: str  # "email" or "sms"
    address: str


@dataclass(frozen=True)
class Wanted:
    key: str
    programme_id: str
    event_id: str
    occurrence_key: str
    occurrence_start: dt.datetime
    offset_seconds: int
    channel: str  # "email", "sms" or "apprise"
    recipient: str  # address, number or organiser channel name
    subscriber_id: int | None
    due_at: dt.datetime


def digest(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).hexdigest()


def reminder_key(programme_id: str, occurrence_key: str, start: dt.datetime,
                 offset_seconds: int, channel: str, recipient: str) -> str:
    """Stable values only (never "now"): planning twice gives the same key."""
    return digest("reminder", programme_id, occurrence_key, start.astimezone(UTC).isoformat(),
                  offset_seconds, channel, recipient)


def anchor(programme: Programme, occurrence: Occurrence, all_day_hour: int) -> dt.datetime:
    """What offsets count back from: the start, or the configured hour of an all-day day."""
    if occurrence.all_day:
        return dt.datetime.combine(occurrence.day, dt.time(all_day_hour), programme.tz)
    return occurrence.start


def too_late_at(kind: str, occurrence_start: dt.datetime, due_at: dt.datetime,
                offset_seconds: int) -> dt.datetime:
    """When a row may no longer be sent: the event's start, or for a reminder of an
    all-day event the hour its offsets count from (its start is midnight, which a "2h"
    reminder due at 06:00 of the day would otherwise always have missed)."""
    if kind != "reminder":
        return occurrence_start
    return max(occurrence_start, due_at + dt.timedelta(seconds=offset_seconds))


def covers(scope: str, event_id: str, category_id: str) -> bool:
    return scope in ("programme", f"category:{category_id}", f"event:{event_id}")


def channel_target(name: str, url: str) -> str:
    """The recipient of an organiser channel's outbox row. Each URL of a channel has rows of
    its own, so a URL that fails (Bale down) is retried alone and the others (Telegram) are
    not sent twice. The URL holds tokens, so the database keeps a digest of it, not it."""
    return f"{name}/{digest('channel-url', url)[:12]}"


def recipients_for(event_id: str, category_id: str, notify: Iterable[str],
                   programme_subscribers: Iterable[Subscriber],
                   channels: Mapping[str, Sequence[str]] | None = None
                   ) -> list[tuple[str, str, int | None]]:
    """(channel, recipient, subscriber id) for an event: each address once, however many
    of its subscriptions cover the event; then each URL of the organiser channels named in
    ``notify`` that the channels file defines."""
    found: dict[tuple[str, str], int | None] = {}
    for subscriber in programme_subscribers:
        if covers(subscriber.scope, event_id, category_id):
            found.setdefault((subscriber.channel, subscriber.address), subscriber.id)
    for name in notify:
        for url in (channels or {}).get(name, ()):
            found.setdefault(("apprise", channel_target(name, url)), None)
    return [(channel, recipient, sid) for (channel, recipient), sid in found.items()]


def plan(programme: Programme, programme_subscribers: Iterable[Subscriber],
         all_day_hour: int = 8, channels: Mapping[str, Sequence[str]] | None = None
         ) -> list[Wanted]:
    """Every reminder the programme wants, whatever the time (the sender decides what is
    late). Drafts and cancelled events want none."""
    if programme.draft:
        return []
    programme_subscribers = list(programme_subscribers)
    wanted = []
    for event in programme.events:
        if event.cancelled or not event.reminders:
            continue
        recipients = recipients_for(event.id, event.category.id, event.notify,
                                    programme_subscribers, channels)
        for occurrence in event.occurrences:
            start = anchor(programme, occurrence, all_day_hour)
            for offset in event.reminders:
                seconds = int(offset.total_seconds())
                for channel, recipient, subscriber_id in recipients:
                    wanted.append(Wanted(
                        reminder_key(programme.id, occurrence.key, occurrence.start, seconds,
                                     channel, recipient),
                        programme.id, event.id, occurrence.key, occurrence.start, seconds,
                        channel, recipient, subscriber_id, start - offset))
    return wanted


def occurrence_states(programme: Programme, base_url: str) -> dict[str, dict[str, Any]]:
    """What subscribers were told about each occurrence; a change in ``NOTICE_FIELDS``
    between two loads is worth a notice."""
    from .mail import occurrence_details
    states = {}
    for event in programme.events:
        for occurrence in event.occurrences:
            state = occurrence_details(programme, event, occurrence, base_url)
            state["category_id"] = event.category.id
            state["occurrence_key"] = occurrence.key
            state["notify"] = list(event.notify)
            states[occurrence.key] = state
    return states


NOTICE_FIELDS = ("start", "end", "all_day", "venue", "address", "status")


def notice_worthy(old: Mapping[str, Any], new: Mapping[str, Any] | None) -> bool:
    if new is None:
        return old.get("status") != "cancelled"
    return any(old.get(name) != new.get(name) for name in NOTICE_FIELDS)


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
            cancel += [row.id for row in connection.execute(
                select(out.id).where(out.status == PENDING,
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

def rate_limit_hit(engine: Engine, kind: str, value: str, limit: int, now: dt.datetime,
                   window: dt.timedelta = dt.timedelta(hours=1)) -> bool:
    """Count one request of ``value`` (a client address, a subscriber's address) and say
    whether it is within ``limit`` in the sliding ``window``. The count is kept in the
    database, shared by every process; only a digest of the value is stored."""
    key = f"{kind}:{digest('rate', kind, value)[:40]}"
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            # The same key from two machines at once: one counts after the other.
            connection.execute(select(func.pg_advisory_xact_lock(
                int(digest("rate-lock", key)[:15], 16))))
        connection.execute(delete(rate_hits).where(rate_hits.c.at <= now - window))
        count = connection.execute(select(func.count()).select_from(rate_hits).where(
            rate_hits.c.key == key)).scalar_one()
        if count >= limit:
            return False
        connection.execute(rate_hits.insert().values(key=key, at=now))
        return True


class AddressError(ValueError):
    pass


def normalise_email(address: str) -> str:
    """A lower-cased ASCII address (a Persian domain in its punycode form): mail to an
    internationalised (SMTPUTF8) address could not be sent, so it is refused here rather
    than failing later."""
    from email_validator import EmailNotValidError, validate_email
    try:
        checked = validate_email(address.strip(), check_deliverability=False,
                                 allow_smtputf8=False)
    except EmailNotValidError as error:
        raise AddressError(str(error)) from None
    return (checked.ascii_email or checked.normalized).lower()  # IDN domain → punycode


def normalise_mobile(number: str) -> str:
    """Iranian mobile numbers in any common writing → ``09xxxxxxxxx``."""
    digits = "".join(ch for ch in jalali.to_ascii_digits(number) if ch.isdigit() or ch == "+")
    if digits.startswith("+98"):
        digits = "0" + digits[3:]
    elif digits.startswith("0098"):
        digits = "0" + digits[4:]
    elif digits.startswith("98") and len(digits) == 12:
        digits = "0" + digits[2:]
    elif digits.startswith("9") and len(digits) == 10:
        digits = "0" + digits
    if len(digits) != 11 or not digits.startswith("09") or not digits.isdigit():
        raise AddressError("not an Iranian mobile number (09xxxxxxxxx)")
    return digits


def scope_for(programme: Programme, event_id: str | None = None,
              category_id: str | None = None) -> str:
    if event_id and category_id:
        raise ValueError("give an event or a category, not both")
    if event_id:
        if programme.event(event_id) is None:
            raise ValueError(f"no event '{event_id}' in programme '{programme.id}'")
        return f"event:{event_id}"
    if category_id:
        if category_id not in programme.categories:
            raise ValueError(f"no category '{category_id}' in programme '{programme.id}'")
        return f"category:{category_id}"
    return "programme"


def scope_label(programme: Programme, scope: str) -> str:
    kind, _, ident = scope.partition(":")
    if kind == "event" and programme.event(ident):
        return programme.event(ident).title
    if kind == "category" and ident in programme.categories:
        return f"{programme.categories[ident].label} — {programme.title}"
    return programme.title


def add_subscriber(engine: Engine, programme_id: str, scope: str, channel: str,
                   address: str, source: str, now: dt.datetime, confirmed: bool,
                   code_hash: str | None = None) -> tuple[int, bool]:
    """Insert or refresh a subscription; (id, already confirmed before)."""
    sub = subscribers.c
    with write_transaction(engine) as connection:
        row = connection.execute(select(sub.id, sub.confirmed_at).where(
            sub.programme_id == programme_id, sub.scope == scope, sub.channel == channel,
            sub.address == address)).first()
        if row is not None:
            values = {"code_hash": code_hash, "code_attempts": 0}
            if confirmed and row.confirmed_at is None:
                values["confirmed_at"] = now
            if row.confirmed_at is None:
                values["created_at"] = now
            connection.execute(update(subscribers).where(sub.id == row.id).values(**values))
            return row.id, row.confirmed_at is not None
        result = connection.execute(subscribers.insert().values(
            programme_id=programme_id, scope=scope, channel=channel, address=address,
            source=source, created_at=now, confirmed_at=now if confirmed else None,
            code_hash=code_hash, code_attempts=0))
        return result.inserted_primary_key[0], False


def confirm_subscriber(engine: Engine, subscriber_id: int, now: dt.datetime) -> str | None:
    """Mark confirmed; the programme id, or None when the subscription is gone."""
    sub = subscribers.c
    with write_transaction(engine) as connection:
        row = connection.execute(select(sub.programme_id, sub.confirmed_at)
                                 .where(sub.id == subscriber_id)).first()
        if row is None:
            return None
        if row.confirmed_at is None:
            connection.execute(update(subscribers).where(sub.id == subscriber_id)
                               .values(confirmed_at=now, code_hash=None))
        return row.programme_id


def remove_subscribers(engine: Engine, ids: Iterable[int], now: dt.datetime) -> int:
    """Delete the subscriptions, cancel what is pending for them and forget the address
    in the outbox."""
    ids = list(ids)
    if not ids:
        return 0
    out = reminder_outbox.c
    with write_transaction(engine) as connection:
        # Claimed ones too: their address is about to go, so a claim whose process died
        # must not come back after its lease with no one to send to. (A send under way
        # still goes out; its outcome is simply not recorded over "cancelled".)
        connection.execute(update(reminder_outbox).where(
            out.subscriber_id.in_(ids), out.status.in_([PENDING, SENDING]))
            .values(status=CANCELLED, last_error=NOT_WANTED, lease_until=None,
                    updated_at=now))
        connection.execute(update(reminder_outbox).where(out.subscriber_id.in_(ids))
                           .values(recipient="", subscriber_id=None))
        return connection.execute(delete(subscribers).where(
            subscribers.c.id.in_(ids))).rowcount


def purge_expired(engine: Engine, programmes: Iterable[Programme], now: dt.datetime,
                  retention_days: int, confirm_max_age: float | None = None) -> int:
    """Delete the addresses of programmes that ended ``retention_days`` ago. A programme
    no longer served (its file deleted, perhaps while no process ran) counts as ended at
    its last planned occurrence, or when its last subscription was made. Requests never
    confirmed go when their link or code expires (``confirm_max_age`` seconds)."""
    keep = dt.timedelta(days=retention_days)
    served = {p.id: p for p in programmes}
    expired = [pid for pid, p in served.items() if p.end() + keep <= now]
    sub, out = subscribers.c, reminder_outbox.c
    if confirm_max_age is not None:
        with write_transaction(engine) as connection:
            unconfirmed = connection.execute(delete(subscribers).where(
                sub.confirmed_at.is_(None),
                sub.created_at <= now - dt.timedelta(seconds=confirm_max_age))).rowcount
        if unconfirmed:
            log.info("deleted %d unconfirmed subscription request(s)", unconfirmed)
    with engine.connect() as connection:
        others = [pid for (pid,) in connection.execute(
            select(sub.programme_id).distinct()) if pid not in served]
        for pid in others:
            last = connection.execute(select(func.max(out.occurrence_start))
                                      .where(out.programme_id == pid)).scalar() or \
                connection.execute(select(func.max(sub.created_at))
                                   .where(sub.programme_id == pid)).scalar()
            if last is not None and last.replace(tzinfo=UTC) + keep <= now:
                expired.append(pid)
        if not expired:
            return 0
        ids = [row.id for row in connection.execute(
            select(sub.id).where(sub.programme_id.in_(expired)))]
    removed = remove_subscribers(engine, ids, now)
    with write_transaction(engine) as connection:
        connection.execute(update(reminder_outbox).where(
            out.programme_id.in_(expired), out.channel.in_(["email", "sms"]),
            out.recipient != "").values(recipient=""))
    if removed:
        log.info("deleted %d subscriber address(es) of ended programmes", removed)
    return removed


# -- the application side -----------------------------------------------------------------

class Reminders:
    """The reminder machinery of one application: its engine, programmes, settings and
    clock (injectable for tests)."""

    def __init__(self, app, clock: Clock | None = None):
        from .store import app_engine
        self.app = app
        self.settings = app.config
        self.clock = clock or utc_now
        self.engine = app_engine(app)
        # host:pid names the process for people; the random part keeps two containers that
        # share a host name (host networking) and a pid (1) from taking each other's rows.
        self.worker = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"

    @property
    def registry(self):
        return self.app.extensions["week_planner.registry"]

    def channels(self) -> dict[str, list[str]]:
        path = self.settings.get("CHANNELS")
        return read_channels(path) if path else {}

    def reconcile(self, programme_ids: Iterable[str] | None = None) -> ReconcileResult:
        snapshot = self.registry.snapshot()
        programmes = list(snapshot.programmes.values())
        prune = programme_ids is None and all(state.result.ok
                                              for state in snapshot.files.values())
        if programme_ids is not None:
            wanted = set(programme_ids)
            programmes = [p for p in programmes if p.id in wanted]
        return reconcile(self.engine, programmes, now=self.clock(),
                         base_url=self.settings["BASE_URL"],
                         all_day_hour=self.settings["ALL_DAY_REMINDER_HOUR"],
                         channels=self.channels(), prune_others=prune,
                         faults=faults_of(self.app))

    def purge_expired(self) -> int:
        return purge_expired(self.engine, self.registry.programmes(include_drafts=True),
                             self.clock(), self.settings["SUBSCRIBER_RETENTION_DAYS"],
                             self.settings["CONFIRM_MAX_AGE"])

    def next_due(self) -> dt.datetime | None:
        return next_due(self.engine)

    def send_due(self, max_batches: int | None = None) -> dict[str, int]:
        """Claim and send batches until nothing is due; counts by outcome."""
        from .mail import transport_for
        counts = {"sent": 0, "retry": 0, "failed": 0, "cancelled": 0}
        transport = transport_for(self.settings)
        sender = _Sender(self, transport)
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                claimed_at = self.clock()
                rows = claim(self.engine, claimed_at, self.settings["REMINDER_BATCH_SIZE"],
                             self.settings["REMINDER_LEASE"], self.worker)
                if not rows:
                    break
                batches += 1
                for outcome in sender.send_batch(rows, claimed_at):
                    counts[outcome] += 1
        finally:
            transport.close()
        return counts

    def unsubscribe_url(self, row: Mapping[str, Any]) -> str | None:
        """The one-click link of an outbox row's subscription (None for organisers)."""
        if row["subscriber_id"] is None or not row["recipient"]:
            return None
        from .remind_views import unsubscribe_token
        token = unsubscribe_token(self.app, row["subscriber_id"], row["programme_id"],
                                  row["channel"], row["recipient"])
        return f"{self.settings['BASE_URL'].rstrip('/')}/remind/unsubscribe/{token}"

    def build_email(self, row: Mapping[str, Any], now: dt.datetime):
        """The message for an outbox row, or None when its event is no longer as planned."""
        from . import mail
        env = self.app.jinja_env
        unsubscribe = self.unsubscribe_url(row)
        if row["kind"] == "notice":
            return mail.build_notice(env, self.settings, json.loads(row["detail"]),
                                     row["recipient"], row["key"], unsubscribe, now)
        found = self.find_occurrence(row)
        if found is None:
            return None
        programme, event, occurrence = found
        # The event's own feed: the same UIDs, SEQUENCE and VTIMEZONE as the calendars
        # that subscribed to it (kept in memory by the feeds, so built once per version).
        ics = event_calendar(self.app, programme.id, event.id)
        # Sent late (the process was down): say how long is really left.
        before = dt.timedelta(seconds=row["offset_seconds"])
        if now - row["due_at"] > dt.timedelta(minutes=1):
            left = anchor(programme, occurrence, self.settings["ALL_DAY_REMINDER_HOUR"]) - now
            before = dt.timedelta(minutes=max(int(left.total_seconds()) // 60, 0))
        return mail.build_reminder(env, self.settings, programme, event, occurrence, before,
                                   row["recipient"], row["key"], unsubscribe, now, ics)

    def find_occurrence(self, row: Mapping[str, Any]):
        programme = self.registry.get(row["programme_id"])
        event = programme.event(row["event_id"]) if programme else None
        if event is None or event.cancelled:
            return None
        for occurrence in event.occurrences:
            if occurrence.key == row["occurrence_key"] and \
                    occurrence.start == row["occurrence_start"]:
                return programme, event, occurrence
        return None

    def short_text(self, row: Mapping[str, Any]) -> str | None:
        from . import mail
        if row["kind"] == "notice":
            return mail.notice_text(json.loads(row["detail"]))
        found = self.find_occurrence(row)
        if found is None:
            return None
        return mail.reminder_text(*found, self.settings["BASE_URL"])


class _Sender:
    """Sends claimed rows over their channel and records each outcome at once."""

    def __init__(self, reminders: Reminders, transport):
        self.reminders = reminders
        self.transport = transport
        self.engine = reminders.engine
        self.worker = reminders.worker
        self.delays = list(reminders.settings["RETRY_DELAYS"])
        self._channels: dict[str, list[str]] | None = None

    def channels(self) -> dict[str, list[str]]:
        if self._channels is None:
            self._channels = self.reminders.channels()
        return self._channels

    def send_batch(self, rows: list[Mapping[str, Any]], claimed_at: dt.datetime
                   ) -> Iterable[str]:
        unreachable: DeliveryError | None = None
        # Start no send after half the lease: past it, another process may take the row
        # over, and a slow batch (a stalled machine) must not turn into duplicates.
        deadline = claimed_at + dt.timedelta(seconds=self.reminders.settings["REMINDER_LEASE"] / 2)
        for index, row in enumerate(rows):
            now = self.reminders.clock()
            if now >= deadline:
                release(self.engine, [r["id"] for r in rows[index:]], self.worker, now)
                log.warning("batch took more than half its lease; %d reminder(s) given back",
                            len(rows) - index)
                return
            if unreachable is not None and row["channel"] == "email":
                yield self._retry(row, now, unreachable)
                continue
            try:
                delivered = self._deliver(row, now)
            except DeliveryError as error:
                if error.permanent:
                    _finish(self.engine, row["id"], self.worker, status=FAILED, last_error=str(error),
                            updated_at=now)
                    log.error("reminder %d failed for good: %s", row["id"], error)
                    yield "failed"
                else:
                    if error.connection and row["channel"] == "email":
                        unreachable = error
                    yield self._retry(row, now, error)
                continue
            except Exception as error:  # a bug or bad data must not stop the batch
                log.exception("reminder %d could not be built", row["id"])
                yield self._retry(row, now, DeliveryError(f"{type(error).__name__}: {error}"))
                continue
            if not delivered:
                _finish(self.engine, row["id"], self.worker, status=CANCELLED,
                        last_error="the event is no longer as planned", updated_at=now)
                yield "cancelled"
                continue
            _finish(self.engine, row["id"], self.worker, status=SENT, sent_at=self.reminders.clock(),
                    last_error=None, updated_at=self.reminders.clock())
            # One line per reminder; the address masked, as everywhere in the logs.
            from .mail import mask_address
            log.info("%s %d sent: %s/%s by %s to %s", row["kind"], row["id"],
                     row["programme_id"], row["occurrence_key"], row["channel"],
                     mask_address(row["recipient"]) if row["channel"] != "apprise"
                     else row["recipient"])
            yield "sent"

    def _retry(self, row: Mapping[str, Any], now: dt.datetime, error: DeliveryError) -> str:
        at = now + retry_delay(self.delays, row["attempts"])
        _finish(self.engine, row["id"], self.worker, status=PENDING, next_attempt_at=at,
                last_error=str(error), updated_at=now)
        log.warning("reminder %d not sent (attempt %d): %s; next try in %s", row["id"],
                    row["attempts"], error, at - now)
        return "retry"

    def _deliver(self, row: Mapping[str, Any], now: dt.datetime) -> bool:
        channel = row["channel"]
        if channel == "email":
            message = self.reminders.build_email(row, now)
            if message is None:
                return False
            self.transport.send(message)
            return True
        text = self.reminders.short_text(row)
        if text is None:
            return False
        if channel == "sms":
            templates = sms_template(self.channels())
            if not templates:
                raise DeliveryError("no SMS gateway in the channels file")
            send_sms(templates, row["recipient"], text)
            return True
        name = row["recipient"].partition("/")[0]
        urls = [url for url in self.channels().get(name, ())
                if channel_target(name, url) == row["recipient"]]
        if not urls:
            raise DeliveryError(f"this URL of channel '{name}' is no longer in the channels "
                                "file", permanent=True)
        send_apprise(urls, text.splitlines()[0], text)
        return True


def reminders_end(programme: Programme, scope: str, all_day_hour: int = 8
                  ) -> dt.datetime | None:
    """The last moment a reminder for ``scope`` ("programme", "category:<id>",
    "event:<id>") may still go out, by the same rule the outbox uses (``too_late_at``);
    None when the scope wants none at all (cancelled events, events without reminders).
    Read only: the subscription pages use it to stop offering what would never be sent."""
    probe = Subscriber(0, programme.id, scope, "email", "")
    return max((too_late_at("reminder", item.occurrence_start, item.due_at,
                            item.offset_seconds)
                for item in plan(programme, [probe], all_day_hour)), default=None)
