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
