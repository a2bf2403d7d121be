"""Subscribers: adding (with normalised addresses and numbers), confirming and removing
them, the per-address rate limit, the random key of each subscription's unsubscribe
link, and deleting addresses once their programme is over."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from week_planner.reminders.outbox import CANCELLED, PENDING, SENDING
from week_planner.reminders.planning import NOT_WANTED, UTC, digest
from week_planner.schedule import jalali
from week_planner.schedule.model import Programme
from week_planner.store import rate_hits, reminder_outbox, subscribers, write_transaction

log = logging.getLogger(__name__)


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


def mailbox(address: str) -> str:
    """The mailbox an address reaches, for counting requests: ``name+anything@domain``
    is ``name@domain`` (plus addressing, which most mail services deliver to the one
    mailbox). Mail still goes to the address as typed; numbers are returned as they are."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    name, plus, _tag = local.partition("+")
    return f"{name}@{domain}" if plus and name else address


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


def add_subscriber(engine: Engine, programme_id: str, scope: str, channel: str,
                   address: str, source: str, now: dt.datetime, confirmed: bool,
                   code_hash: str | None = None) -> tuple[int, bool]:
    """Insert or refresh a subscription; (id, already confirmed before)."""
    with write_transaction(engine) as connection:
        return upsert_subscriber(connection, programme_id, scope, channel, address, source,
                                 now, confirmed, code_hash)


def upsert_subscriber(connection: Connection, programme_id: str, scope: str, channel: str,
                      address: str, source: str, now: dt.datetime, confirmed: bool,
                      code_hash: str | None = None) -> tuple[int, bool]:
    """``add_subscriber`` inside the caller's write transaction."""
    sub = subscribers.c
    if connection.dialect.name == "postgresql":
        # Two requests for one new address at once: the second waits and finds the row
        # (SQLite's write lock does this already).
        connection.execute(select(func.pg_advisory_xact_lock(int(digest(
            "subscriber-lock", programme_id, scope, channel, address)[:15], 16))))
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
        code_hash=code_hash, code_attempts=0, link_key=new_link_key()))
    return result.inserted_primary_key[0], False


def new_link_key() -> str:
    """A random name for a link: 192 bits, URL-safe."""
    return secrets.token_urlsafe(24)


def unsubscribe_key(engine: Engine, subscriber_id: int) -> str | None:
    """The random key of a subscription's unsubscribe link (given one now if a row was
    written without it); None when the subscription is gone."""
    sub = subscribers.c
    with engine.connect() as connection:
        key = connection.execute(select(sub.link_key).where(sub.id == subscriber_id)).first()
    if key is None:
        return None
    if key.link_key:
        return key.link_key
    with write_transaction(engine) as connection:
        connection.execute(update(subscribers).where(
            sub.id == subscriber_id, sub.link_key.is_(None)).values(link_key=new_link_key()))
        return connection.execute(select(sub.link_key)
                                  .where(sub.id == subscriber_id)).scalar()


def subscriber_by_link_key(engine: Engine, key: str) -> int | None:
    """The subscription an unsubscribe link names, or None when it is gone."""
    with engine.connect() as connection:
        return connection.execute(select(subscribers.c.id)
                                  .where(subscribers.c.link_key == key)).scalar()


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
    with write_transaction(engine) as connection:
        return _remove(connection, ids, now)


def _remove(connection: Connection, ids: list[int], now: dt.datetime) -> int:
    out = reminder_outbox.c
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
            stale = [row.id for row in connection.execute(select(sub.id).where(
                sub.confirmed_at.is_(None),
                sub.created_at <= now - dt.timedelta(seconds=confirm_max_age)))]
            # As for a removal: the outbox forgets the address of their confirmation
            # messages too.
            unconfirmed = _remove(connection, stale, now) if stale else 0
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
