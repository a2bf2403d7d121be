"""The database: SQLAlchemy Core tables shared by the feeds and the reminders.

``engine_for(url)`` makes an engine (SQLite in WAL mode with a busy timeout, or any other
SQLAlchemy URL such as ``postgresql+psycopg://…``); ``create_schema(engine)`` creates the
tables. Each part of the service defines its tables on the one ``metadata`` below.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()

SQLITE_BUSY_TIMEOUT_MS = 30_000


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Let SQLAlchemy, not the driver, open transactions, so that
            # ``connection.exec_driver_sql("BEGIN IMMEDIATE")`` really takes the write lock.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            immediate = connection.info.get("begin_immediate")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its start: ``BEGIN IMMEDIATE`` on
    SQLite (so two processes cannot both read-then-write the same rows), a plain
    transaction elsewhere (use ``FOR UPDATE SKIP LOCKED`` there)."""
    with engine.connect() as connection:
        connection.info["begin_immediate"] = True
        try:
            with connection.begin():
                yield connection
        finally:
            connection.info.pop("begin_immediate", None)


# ---------------------------------------------------------------------------------------
# Reminders: subscribers, the reminder outbox and the last planned state of each
# occurrence (to notice moves, venue changes and cancellations). Used by reminders.py.
# ---------------------------------------------------------------------------------------
import datetime as _dt  # noqa: E402

from sqlalchemy import (Column, DateTime, Index, Integer, String, Table, Text,  # noqa: E402
                        TypeDecorator, UniqueConstraint)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC so that SQLite's
    text comparison orders them correctly."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=_dt.timezone.utc)


subscribers = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True),
    Column("programme_id", String(200), nullable=False),
    # "programme", "category:<id>" or "event:<id>"
    Column("scope", String(250), nullable=False),
    Column("channel", String(20), nullable=False),  # "email" or "sms"
    Column("address", String(320), nullable=False),  # normalised e-mail or 09… number
    Column("source", String(20), nullable=False),  # "web" or "organiser"
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime()),
    Column("code_hash", String(128)),  # SMS confirmation code, keyed hash
    Column("code_attempts", Integer, nullable=False, default=0),
    UniqueConstraint("programme_id", "scope", "channel", "address",
                     name="uq_subscribers_scope_address"),
)

# One row per reminder or change notice to one recipient; ``key`` is a digest of stable
# values only, so planning twice never makes two rows.
reminder_outbox = Table(
    "reminder_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # "reminder" or "notice"
    Column("programme_id", String(200), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("occurrence_key", String(250), nullable=False),
    Column("occurrence_start", UTCDateTime(), nullable=False),
    Column("offset_seconds", Integer, nullable=False),
    Column("channel", String(40), nullable=False),  # "email", "sms" or "apprise"
    Column("recipient", String(320), nullable=False),  # address, number or channel name
    Column("subscriber_id", Integer),
    Column("detail", Text),  # a notice's change, as JSON
    Column("due_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    # pending → sending → sent | failed | cancelled | missed
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("lease_until", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("sent_by", String(100)),  # host:pid of the process that sent it
    Index("ix_reminder_outbox_status_next", "status", "next_attempt_at"),
    Index("ix_reminder_outbox_programme", "programme_id", "status"),
)

reminder_occurrences = Table(
    "reminder_occurrences", metadata,
    Column("programme_id", String(200), primary_key=True),
    Column("occurrence_key", String(250), primary_key=True),
    Column("event_id", String(200), nullable=False),
    Column("state", Text, nullable=False),  # JSON: start, end, venue, status, title
    Column("updated_at", UTCDateTime(), nullable=False),
)
