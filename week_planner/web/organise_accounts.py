"""Organisers' accounts: who may edit which programmes, and their sessions on the desk.

``add``, ``remove`` and ``all_organisers`` are what ``week-planner organisers`` calls;
``start_session`` / ``session_organiser`` / ``end_session`` are what the desk's sign-in
(web/organise_auth.py) calls. A session is a random key in a cookie, of which the database
keeps a digest; it ends after ``ORGANISER_IDLE_MINUTES`` without a request, after
``SESSION_LIFETIME`` in any case, on signing out, and when the organiser is removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from week_planner.reminders.subscribers import normalise_email
from week_planner.store import (
    organiser_programmes,
    organiser_sessions,
    organisers,
    write_transaction,
)

SESSION_LIFETIME = dt.timedelta(hours=12)
# A session's last request is written at most this often, not on every request.
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Organiser:
    id: int
    email: str
    all_programmes: bool
    programmes: frozenset[str]

    def may_edit(self, programme_id: str) -> bool:
        return self.all_programmes or programme_id in self.programmes


def normalise(address: str) -> str:
    """The address as stored (lower case, a Persian domain in punycode); AddressError when
    it is not one."""
    return normalise_email(address)


def _read(connection: Connection, where) -> list[Organiser]:
    rows = connection.execute(select(organisers).where(where).order_by(organisers.c.email))
    found = []
    for row in rows.all():
        programmes = connection.execute(select(organiser_programmes.c.programme_id).where(
            organiser_programmes.c.organiser_id == row.id)).scalars().all()
        found.append(Organiser(row.id, row.email, bool(row.all_programmes),
                               frozenset(programmes)))
    return found


def find(engine: Engine, email: str) -> Organiser | None:
    with engine.connect() as connection:
        found = _read(connection, func.lower(organisers.c.email) == email.lower())
    return found[0] if found else None


def by_id(engine: Engine, organiser_id: int) -> Organiser | None:
    with engine.connect() as connection:
        found = _read(connection, organisers.c.id == organiser_id)
    return found[0] if found else None


def all_organisers(engine: Engine) -> list[Organiser]:
    with engine.connect() as connection:
        return _read(connection, organisers.c.id.is_not(None))


def add(engine: Engine, email: str, programme_ids, all_programmes: bool,
        now: dt.datetime) -> Organiser:
    """Grant ``email`` the programmes (kept with any granted before); ``all_programmes``
    makes a ministry editor (never taken back here: ``remove`` the account for that)."""
    with write_transaction(engine) as connection:
        row = connection.execute(select(organisers.c.id, organisers.c.all_programmes).where(
            organisers.c.email == email)).first()
        if row is None:
            organiser_id = connection.execute(organisers.insert().values(
                email=email, all_programmes=all_programmes, created_at=now)
            ).inserted_primary_key[0]
        else:
            organiser_id = row.id
            if all_programmes and not row.all_programmes:
                connection.execute(update(organisers).where(organisers.c.id == organiser_id)
                                   .values(all_programmes=True))
        granted = set(connection.execute(select(organiser_programmes.c.programme_id).where(
            organiser_programmes.c.organiser_id == organiser_id)).scalars())
        for programme_id in sorted(set(programme_ids) - granted):
            connection.execute(organiser_programmes.insert().values(
                organiser_id=organiser_id, programme_id=programme_id))
        return _read(connection, organisers.c.id == organiser_id)[0]


def remove(engine: Engine, email: str, programme_ids=()) -> bool:
    """Take ``programme_ids`` away from ``email``, or with none the whole account (and its
    sessions: it is signed out at once). False when there was no such organiser."""
    with write_transaction(engine) as connection:
        organiser_id = connection.execute(select(organisers.c.id).where(
            organisers.c.email == email)).scalar()
        if organiser_id is None:
            return False
        grants = organiser_programmes.c
        if programme_ids:
            connection.execute(delete(organiser_programmes).where(
                grants.organiser_id == organiser_id, grants.programme_id.in_(programme_ids)))
            return True
        connection.execute(delete(organiser_sessions).where(
            organiser_sessions.c.organiser_id == organiser_id))
        connection.execute(delete(organiser_programmes).where(
            grants.organiser_id == organiser_id))
        connection.execute(delete(organisers).where(organisers.c.id == organiser_id))
        return True


# -- sessions ----------------------------------------------------------------------------

def _digest(key: str) -> str:
    return hashlib.sha256(f"session\x1f{key}".encode("utf-8")).hexdigest()


def start_session(engine: Engine, organiser_id: int, now: dt.datetime) -> str:
    """A new session's key (a new one at every sign-in, never one brought along)."""
    key = secrets.token_urlsafe(32)
    sessions = organiser_sessions.c
    with write_transaction(engine) as connection:
        # Sessions left to lapse are deleted as new ones begin.
        connection.execute(delete(organiser_sessions).where(
            sessions.created_at < now - SESSION_LIFETIME))
        connection.execute(organiser_sessions.insert().values(
            key_digest=_digest(key), organiser_id=organiser_id, created_at=now,
            last_seen_at=now))
    return key


def session_organiser(engine: Engine, key: str, now: dt.datetime,
                      idle: dt.timedelta) -> Organiser | None:
    """The organiser signed in with ``key``, the session noted as used now; None (and the
    session ended) when it was idle longer than ``idle`` or is older than its lifetime."""
    sessions = organiser_sessions.c
    digest = _digest(key)
    with engine.connect() as connection:
        row = connection.execute(select(organiser_sessions).where(
            sessions.key_digest == digest)).first()
    if row is None:
        return None
    if now - row.last_seen_at > idle or now - row.created_at > SESSION_LIFETIME:
        end_session(engine, key)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with write_transaction(engine) as connection:
            connection.execute(update(organiser_sessions).where(
                sessions.key_digest == digest).values(last_seen_at=now))
    return by_id(engine, row.organiser_id)


def end_session(engine: Engine, key: str) -> None:
    with write_transaction(engine) as connection:
        connection.execute(delete(organiser_sessions).where(
            organiser_sessions.c.key_digest == _digest(key)))
