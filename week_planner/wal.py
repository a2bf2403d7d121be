"""SQLite's WAL mode, switched to as a lock is waited for.

Switching a database to WAL needs the whole file to itself. While another process holds
a lock on a database not yet in WAL mode (two processes starting together on a new one),
the switch fails with "database is locked": at once while the other is writing (SQLite
does not wait for a lock it could deadlock on), after the busy timeout while it reads.
Both the service's database (store.py) and the kept work (kept.py) are made by whichever
process starts first.
"""

from __future__ import annotations

import sqlite3
import time


def into_wal(connection, seconds: float) -> None:
    """Put the database of ``connection`` (a DB-API connection or cursor of sqlite3) in
    WAL mode, trying again for up to ``seconds`` while it is locked. A database that
    cannot be in WAL mode (a temporary one) keeps SQLite's own mode, at once; any other
    error is raised at once."""
    deadline = time.monotonic() + seconds
    (busy_ms,) = connection.execute("PRAGMA busy_timeout").fetchone()
    try:
        while True:
            # No attempt waits past the deadline in SQLite's busy handler either.
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            connection.execute(f"PRAGMA busy_timeout = {min(busy_ms, left_ms)}")
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                # Any other error (a read-only file, a full disk) is raised at once.
                if not _locked(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
    finally:
        connection.execute(f"PRAGMA busy_timeout = {busy_ms}")


def _locked(error: sqlite3.Error) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY,
                                                              sqlite3.SQLITE_LOCKED)
