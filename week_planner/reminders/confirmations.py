"""Confirmations of subscriptions asked for on the forms: the mail with its link, or the
SMS with its code, sent from the outbox like the reminders.

``ask(engine, secret_key, …)`` records a request and queues its message as an outbox row
of kind ``confirmation``, in one transaction, doing the same work whether the address is
new, already asked for or already confirmed: the form's answer must not tell a stranger
which it is, by its page or by its time. The scheduler sends the row (``build_mail`` /
``build_sms``, called by ``reminders/sending.py``) with the outbox's retries and leases,
unless by then the subscription is confirmed, removed, or asked for again by SMS (a newer
code replaces the older).

The row's random ``key`` names it in the confirm or code link (``tokens.link_token``;
``find`` reads it back), and its ``occurrence_start`` is the moment the link expires, so
the outbox never sends a code or link past it. An SMS code is derived from the key and
the secret key (``sms_code``): it is stored nowhere, only a keyed hash of it on the
subscription, as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from email.message import Message
from typing import Any, Mapping

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from week_planner.reminders.mail import build_confirmation
from week_planner.reminders.outbox import PENDING
from week_planner.reminders.planning import scope_label
from week_planner.reminders.subscribers import new_link_key, upsert_subscriber
from week_planner.schedule.registry import registry_of
from week_planner.store import reminder_outbox, subscribers, write_transaction
from week_planner.tokens import link_token

CONFIRMATION = "confirmation"  # the outbox row kind


def sms_code(secret_key: str, key: str) -> str:
    """The six-digit code of the confirmation named ``key``."""
    mac = hmac.new(secret_key.encode("utf-8"), f"sms-code\x1f{key}".encode(), hashlib.sha256)
    return f"{int.from_bytes(mac.digest()[:8], 'big') % 10 ** 6:06d}"


def code_hash(secret_key: str, subscriber_id: int, code: str) -> str:
    """What a subscription keeps of the last code sent for it."""
    return hmac.new(secret_key.encode("utf-8"), f"{subscriber_id}:{code}".encode(),
                    hashlib.sha256).hexdigest()


def ask(engine: Engine, secret_key: str, programme_id: str, scope: str, channel: str,
        address: str, now: dt.datetime, max_age: int) -> str:
    """Record a request for ``scope`` by ``channel`` ("email" or "sms") and queue its
    confirmation, due now; the key that names it in its link."""
    key = new_link_key()
    with write_transaction(engine) as connection:
        code = sms_code(secret_key, key) if channel == "sms" else None
        subscriber_id, _ = upsert_subscriber(connection, programme_id, scope, channel,
                                             address, "web", now, confirmed=False)
        # The code's hash is set even when the subscription is confirmed already: the
        # same writes, whatever the state of the number.
        connection.execute(update(subscribers).where(subscribers.c.id == subscriber_id)
                           .values(code_hash=code_hash(secret_key, subscriber_id, code)
                                   if code else None))
        kind, _, ident = scope.partition(":")
        connection.execute(reminder_outbox.insert().values(
            key=key, kind=CONFIRMATION, programme_id=programme_id,
            event_id=ident if kind == "event" else "", occurrence_key=scope,
            occurrence_start=now + dt.timedelta(seconds=max_age), offset_seconds=0,
            channel=channel, recipient=address, subscriber_id=subscriber_id, detail=None,
            due_at=now, next_attempt_at=now, status=PENDING, attempts=0, last_error=None,
            lease_until=None, created_at=now, updated_at=now, sent_at=None, sent_by=None))
    return key


@dataclass(frozen=True)
class Confirmation:
    key: str
    channel: str
    subscriber_id: int | None  # None once the subscription is removed
    expires_at: dt.datetime


def find(engine: Engine, key: str) -> Confirmation | None:
    """The confirmation a link names, or None when there is none (a key never made)."""
    out = reminder_outbox.c
    with engine.connect() as connection:
        row = connection.execute(select(out.channel, out.subscriber_id, out.occurrence_start)
                                 .where(out.key == key, out.kind == CONFIRMATION)).first()
    if row is None:
        return None
    return Confirmation(key, row.channel, row.subscriber_id, row.occurrence_start)


def _wanted(app, engine: Engine, row: Mapping[str, Any]):
    """(programme, scope label) when the row's message is still to be sent, else None."""
    if row["subscriber_id"] is None or not row["recipient"]:
        return None  # removed meanwhile
    sub = subscribers.c
    with engine.connect() as connection:
        subscriber = connection.execute(select(sub.confirmed_at, sub.code_hash)
                                        .where(sub.id == row["subscriber_id"])).first()
    if subscriber is None or subscriber.confirmed_at is not None:
        return None  # nothing to confirm (already confirmed: no mail, as before)
    if row["channel"] == "sms":
        secret_key = app.config["SECRET_KEY"]
        expected = code_hash(secret_key, row["subscriber_id"], sms_code(secret_key, row["key"]))
        if not subscriber.code_hash or not hmac.compare_digest(expected, subscriber.code_hash):
            return None  # asked for again: only the newest code is sent
    programme = registry_of(app).get(row["programme_id"])
    if programme is None:
        return None
    return programme, scope_label(programme, row["occurrence_key"])


def build_mail(app, engine: Engine, row: Mapping[str, Any], now: dt.datetime
               ) -> Message | None:
    """The confirmation mail of an outbox row, or None when it is not to be sent."""
    wanted = _wanted(app, engine, row)
    if wanted is None:
        return None
    programme, label = wanted
    url = (f"{app.config['BASE_URL'].rstrip('/')}/remind/confirm/"
           f"{link_token(app, 'confirm', row['key'])}")
    return build_confirmation(app.jinja_env, app.config, programme, label, row["recipient"],
                              url, row["key"], now)


def build_sms(app, engine: Engine, row: Mapping[str, Any]) -> str | None:
    """The text with the code of an outbox row, or None when it is not to be sent."""
    wanted = _wanted(app, engine, row)
    if wanted is None:
        return None
    _programme, label = wanted
    code = sms_code(app.config["SECRET_KEY"], row["key"])
    # Western digits, as before: phones offer such a code to fill in the form.
    return f"کد تأیید یادآوری «{label}»: {code}"
