"""The database: SQLAlchemy Core tables shared by the feeds and the reminders.

``engine_for(url)`` makes an engine (SQLite in WAL mode with a busy timeout, or any other
SQLAlchemy URL such as ``postgresql+psycopg://…``); ``create_schema(engine)`` creates the
schema, or upgrades it through the Alembic migrations in ``migrations/``. Each part of the
service defines its tables on the one ``metadata`` below.
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

from week_planner.wal import into_wal

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
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            into_wal(cursor, SQLITE_BUSY_TIMEOUT_MS / 1000)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            immediate = connection.info.get("begin_immediate")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None):
    """Alembic's configuration for the migrations shipped in the package."""
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def create_schema(engine: Engine) -> None:
    """Create the schema, or upgrade it, to the latest migration (``week-planner db
    upgrade``).

    A database at MIGRATIONS_HEAD already is only read. Otherwise everything happens in
    one write transaction, so that processes starting together make or upgrade it once,
    one after the other (SQLite's write lock; PostgreSQL's advisory lock, with each
    statement seeing what the process before committed). An empty database is given the
    tables at once and marked at MIGRATIONS_HEAD (Alembic's recipe for a new database:
    Alembic's import and its walk through every migration are 0.4 s of a first start);
    a migration that adds rows must add them there too. A database made by an older
    version is upgraded by Alembic."""
    if schema_revision(engine) == MIGRATIONS_HEAD:
        return
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="READ COMMITTED")
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                               {"id": MIGRATIONS_LOCK_ID})
        tables = inspect(connection).get_table_names()
        if not tables:
            metadata.create_all(connection)
            alembic_version.create(connection)
            connection.execute(
                alembic_version.insert().values(version_num=MIGRATIONS_HEAD))
            return
        if _revision(connection) == MIGRATIONS_HEAD:
            return  # another process made or upgraded it meanwhile
        from alembic import command
        command.upgrade(alembic_config(connection), "head")


# Held while the schema is made or upgraded, by this and by migrations/env.py: PostgreSQL's
# advisory lock (SQLite's write transaction serves on SQLite).
MIGRATIONS_LOCK_ID = 0x7765656B  # "week"

# Alembic's own record of the migration a database is at, as Alembic makes it.
alembic_version = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


MIGRATIONS_HEAD = "0004"  # the newest migration's revision (tests compare it with Alembic's)


def schema_revision(engine: Engine) -> str | None:
    """The migration the database is at (None before the first)."""
    with engine.connect() as connection:
        return _revision(connection)


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(select(alembic_version.c.version_num)).scalar()


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
# occurrence (to notice moves, venue changes and cancellations). Used by reminders/.
# ---------------------------------------------------------------------------------------


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
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


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
    # Random, the subscription's name in its unsubscribe link (never its row id).
    Column("link_key", String(64)),
    UniqueConstraint("programme_id", "scope", "channel", "address",
                     name="uq_subscribers_scope_address"),
    Index("ix_subscribers_link_key", "link_key", unique=True),
)

# One row per reminder or change notice to one recipient; ``key`` is a digest of stable
# values only, so planning twice never makes two rows. A confirmation asked for on a form
# (kind "confirmation") is a row too, sent like the others: its ``key`` is random and
# names it in the confirm or code link, its ``occurrence_key`` is the scope asked for and
# its ``occurrence_start`` the moment the link expires.
reminder_outbox = Table(
    "reminder_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # "reminder", "notice", "confirmation"
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
    Column("sent_by", String(100)),  # host:pid:random of the process that sent it
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

# Subscription requests in the last hour, per client and per address (both as digests),
# so that every web worker and machine on the database keeps one limit. Used by
# reminders.rate_limit_hit.
rate_hits = Table(
    "rate_hits", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(100), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_rate_hits_key_at", "key", "at"),
    Index("ix_rate_hits_at", "at"),
)


_ENGINE_LOCK = threading.Lock()


def app_engine(app) -> Engine:
    """The application's one engine, made on first use from ``DATABASE_URL`` with the
    schema created; kept in ``app.extensions["week_planner.engine"]``."""
    engine = app.extensions.get("week_planner.engine")
    if engine is None:
        with _ENGINE_LOCK:  # two first requests at once make one engine
            engine = app.extensions.get("week_planner.engine")
            if engine is None:
                engine = engine_for(app.config["DATABASE_URL"])
                create_schema(engine)
                app.extensions["week_planner.engine"] = engine
    return engine


# ---------------------------------------------------------------------------------------
# Feeds: the revisions of every event occurrence as subscribers' calendars have seen it.
# ``event_revisions`` holds the current snapshot (the user-visible fields, JSON) with its
# SEQUENCE and LAST-MODIFIED; ``event_changes`` keeps every past revision for the public
# changelog and change notices; ``feed_programmes`` keeps a programme's own fields so its
# feeds can still be served (as cancelled) after its file is deleted. Read and written by
# revision_store.py.
# ---------------------------------------------------------------------------------------

feed_programmes = Table(
    "feed_programmes", metadata,
    Column("programme_id", String(200), primary_key=True),
    Column("snapshot", Text, nullable=False),  # JSON: title, organiser, timezone, days…
    Column("version", String(128), nullable=False),  # the file version last synced
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("removed_at", UTCDateTime()),  # when its schedule file disappeared
)

event_revisions = Table(
    "event_revisions", metadata,
    Column("programme_id", String(200), primary_key=True),
    Column("occurrence_key", String(250), primary_key=True),
    Column("event_id", String(200), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the canonical snapshot
    Column("snapshot", Text, nullable=False),  # JSON of the user-visible fields
    Column("removed", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("modified_at", UTCDateTime(), nullable=False),  # LAST-MODIFIED
)

event_changes = Table(
    "event_changes", metadata,
    Column("id", Integer, primary_key=True),
    Column("programme_id", String(200), nullable=False),
    Column("occurrence_key", String(250), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("sequence", Integer, nullable=False),
    # "added", "changed", "removed" (gone from the file) or "restored"
    Column("kind", String(20), nullable=False),
    Column("snapshot", Text, nullable=False),  # JSON after the change
    Column("previous", Text),  # JSON before it (None when added)
    Column("changed_at", UTCDateTime(), nullable=False),
    UniqueConstraint("programme_id", "occurrence_key", "sequence",
                     name="uq_event_changes_sequence"),
    Index("ix_event_changes_programme", "programme_id", "changed_at"),
)


# ---------------------------------------------------------------------------------------
# The organisers' desk (web/organise*.py): who may edit which programme, their one-time
# sign-in links and sessions (only digests of the random keys are kept), and every version
# of a schedule file published from the desk, with who published it and when.
# ---------------------------------------------------------------------------------------

organisers = Table(
    "organisers", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised
    # A ministry editor: every programme, and may start new ones.
    Column("all_programmes", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

organiser_programmes = Table(
    "organiser_programmes", metadata,
    Column("organiser_id", Integer, ForeignKey("organisers.id", ondelete="CASCADE"),
           primary_key=True),
    Column("programme_id", String(200), primary_key=True),
)

# A link is asked for by address, known or not (the form answers alike); it signs in only
# an address that is an organiser's when it is used, once, before it expires.
organiser_links = Table(
    "organiser_links", metadata,
    Column("key_digest", String(64), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Index("ix_organiser_links_expires", "expires_at"),
)

organiser_sessions = Table(
    "organiser_sessions", metadata,
    Column("key_digest", String(64), primary_key=True),
    Column("organiser_id", Integer, ForeignKey("organisers.id", ondelete="CASCADE"),
           nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
)

programme_versions = Table(
    "programme_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("programme_id", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the file's bytes
    # "publish", "upload", "add-event", "restore", "create", or "server" (the file as
    # the desk found it, changed on the server)
    Column("action", String(20), nullable=False),
    Column("published_by", String(320)),  # the organiser's address; None for "server"
    Column("published_at", UTCDateTime(), nullable=False),
    Column("restored_from", Integer),  # the version a restore brought back
    Index("ix_programme_versions_programme", "programme_id", "published_at"),
)
