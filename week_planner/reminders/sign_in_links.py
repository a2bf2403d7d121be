"""One-time sign-in links of the organisers' desk (``/organise/``), mailed from the outbox.

``ask(engine, address, now)`` records a link for an address and queues its mail as an
outbox row of kind ``sign-in``, in one transaction, doing the same work whether or not the
address is an organiser's: the form's answer, and its time, tell a stranger nothing. The
scheduler sends the row (``build_mail``, called by ``reminders/sending.py``) only while the
address is an organiser's and the link is unused and unexpired; otherwise it sends nothing.
``new_link`` makes a link without mail (``week-planner organisers link``); ``spend`` uses a
link up, once, and says whose it was.

A link names a random key, signed with the secret key under a salt of its own
(``link_token`` / ``read_link_token``). The links table keeps only a digest of the key; the
outbox row that mails it is named by the key itself, as a confirmation's row is, and is
deleted a day after it was made. A link is valid ``LINK_LIFETIME`` (15 minutes) and once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from email.message import Message
from typing import Any, Mapping

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from week_planner.reminders.mail import _message
from week_planner.schedule.jalali import to_persian_digits
from week_planner.store import (
    organiser_links,
    organisers,
    reminder_outbox,
    write_transaction,
)

SIGN_IN = "sign-in"  # the outbox row kind
LINK_LIFETIME = dt.timedelta(minutes=15)
KEEP_FOR = dt.timedelta(days=1)  # expired links and their mail rows are deleted after this
LINK_SALT = "week-planner.organiser-sign-in"
LINK_PATH = "/organise/sign-in/"


def key_digest(key: str) -> str:
    return hashlib.sha256(f"sign-in\x1f{key}".encode("utf-8")).hexdigest()


def link_token(app, key: str) -> str:
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=LINK_SALT).dumps(key)


def read_link_token(app, token: str) -> str | None:
    """The key a sign-in token names; None when it is not one (tampered, another kind)."""
    try:
        key = URLSafeSerializer(app.config["SECRET_KEY"], salt=LINK_SALT).loads(token)
    except BadSignature:
        return None
    return key if isinstance(key, str) and key else None


def link_url(app, key: str) -> str:
    return f"{app.config['BASE_URL'].rstrip('/')}{LINK_PATH}{link_token(app, key)}"


def _record(connection: Connection, address: str, now: dt.datetime) -> str:
    key = secrets.token_urlsafe(32)
    connection.execute(delete(organiser_links).where(
        organiser_links.c.expires_at < now - KEEP_FOR))
    connection.execute(organiser_links.insert().values(
        key_digest=key_digest(key), email=address, created_at=now,
        expires_at=now + LINK_LIFETIME, used_at=None))
    return key


def new_link(engine: Engine, address: str, now: dt.datetime) -> str:
    """A link's key for ``address``, not mailed (the command line prints it)."""
    with write_transaction(engine) as connection:
        return _record(connection, address, now)


def ask(engine: Engine, address: str, now: dt.datetime) -> None:
    """Record a link for ``address`` and queue its mail, due now: the same writes for any
    address; whether it is an organiser's is looked at only when the mail is built."""
    out = reminder_outbox.c
    with write_transaction(engine) as connection:
        connection.execute(delete(reminder_outbox).where(
            out.kind == SIGN_IN, out.created_at < now - KEEP_FOR))
        key = _record(connection, address, now)
        connection.execute(reminder_outbox.insert().values(
            key=key, kind=SIGN_IN, programme_id="", event_id="", occurrence_key="",
            # The moment the link expires: the outbox never sends it later than that.
            occurrence_start=now + LINK_LIFETIME, offset_seconds=0, channel="email",
            recipient=address, subscriber_id=None, detail=None, due_at=now,
            next_attempt_at=now, status="pending", attempts=0, last_error=None,
            lease_until=None, created_at=now, updated_at=now, sent_at=None, sent_by=None))


def _organiser_id(connection: Connection, address: str) -> int | None:
    return connection.execute(select(organisers.c.id).where(
        func.lower(organisers.c.email) == address.lower())).scalar()


def spend(engine: Engine, key: str, now: dt.datetime) -> int | None:
    """Use the link named ``key`` up; the id of the organiser it signs in, or None when it
    is unknown, used, expired, or its address is no organiser's (any more)."""
    links = organiser_links.c
    with write_transaction(engine) as connection:
        row = connection.execute(select(links.email).where(
            links.key_digest == key_digest(key), links.used_at.is_(None),
            links.expires_at > now)).first()
        if row is None:
            return None
        # Compare-and-set: of two requests with one link, one signs in.
        spent = connection.execute(update(organiser_links).where(
            links.key_digest == key_digest(key), links.used_at.is_(None))
            .values(used_at=now)).rowcount
        return _organiser_id(connection, row.email) if spent == 1 else None


def usable(engine: Engine, key: str, now: dt.datetime) -> bool:
    """Whether the link named ``key`` would still sign someone in (its page asks)."""
    links = organiser_links.c
    with engine.connect() as connection:
        row = connection.execute(select(links.email).where(
            links.key_digest == key_digest(key), links.used_at.is_(None),
            links.expires_at > now)).first()
        return row is not None and _organiser_id(connection, row.email) is not None


def build_mail(app, engine: Engine, row: Mapping[str, Any], now: dt.datetime
               ) -> Message | None:
    """The sign-in mail of an outbox row; None when it is not to be sent (the address is
    no organiser's, or the link was used or has expired)."""
    if row["occurrence_start"] <= now or not usable(engine, row["key"], now):
        return None
    minutes = int(LINK_LIFETIME.total_seconds()) // 60
    context = {"url": link_url(app, row["key"]), "minutes": to_persian_digits(minutes),
               "desk_url": f"{app.config['BASE_URL'].rstrip('/')}/organise/"}
    env = app.jinja_env
    return _message(app.config, row["recipient"], "ورود به میز برگزارکنندگان هفتهٔ تعاون",
                    env.get_template("mail/sign_in.txt").render(context),
                    env.get_template("mail/sign_in.html").render(context),
                    row["key"], now, None)
