"""The store on SQLite and PostgreSQL: schema creation, the write lock that keeps two
processes from both claiming the same row, and recording many programmes' revisions at
once."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text, update

from week_planner import revision_store, store, wal


def test_schema_is_created_on_both_databases(database_url):
    engine = store.engine_for(database_url)
    store.create_schema(engine)
    store.create_schema(engine)  # a second time changes nothing
    with engine.connect() as connection:
        for table in store.metadata.sorted_tables:
            assert connection.execute(select(table)).fetchall() == []
    engine.dispose()


def test_a_connection_waits_to_switch_a_locked_new_database_to_wal(tmp_path):
    """Two processes starting together on a new SQLite database: while one holds a lock
    on it before it is in WAL mode, the other's switch to WAL waits (SQLite itself fails
    at once) and is made."""
    path = tmp_path / "new.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE made_first (x INTEGER)")
    released = threading.Timer(0.3, holder.execute, ("COMMIT",))
    released.start()
    engine = store.engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql(
                "SELECT count(*) FROM made_first").scalar() == 0
    finally:
        released.join()
        holder.close()
        engine.dispose()


@pytest.fixture
def no_second_try(monkeypatch):
    """``wal.into_wal`` fails the test if it sleeps to try the switch again."""
    def no_waiting(seconds):
        raise AssertionError("into_wal waited to try again")

    monkeypatch.setattr(wal.time, "sleep", no_waiting)


def test_a_database_that_cannot_be_in_wal_mode_is_not_waited_for(no_second_try):
    """A temporary database stays in SQLite's own mode, without trying again."""
    connection = sqlite3.connect("", isolation_level=None)
    try:
        wal.into_wal(connection, 30)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    finally:
        connection.close()


def test_the_switch_to_wal_waits_no_longer_than_it_is_given(tmp_path):
    """A reader holding a database not yet in WAL mode makes SQLite wait its busy timeout
    (20 s here) on each try: the tries together still end when the time given (0.2 s) is
    up, and the connection keeps its busy timeout."""
    path = tmp_path / "read.sqlite3"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader, \
            contextlib.closing(sqlite3.connect(path, isolation_level=None,
                                               timeout=20)) as connection:
        reader.execute("CREATE TABLE t (x INTEGER)")
        reader.execute("INSERT INTO t VALUES (1)")
        reader.execute("BEGIN")
        reader.execute("SELECT x FROM t").fetchall()  # holds its read lock
        began = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            wal.into_wal(connection, 0.2)
        assert time.monotonic() - began < 10  # not 20 s, nor 20 s a try
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 20_000


def test_an_error_other_than_a_lock_is_not_waited_out(tmp_path, no_second_try):
    """A database that can only be read fails to switch at once, not after the 30 s a
    lock is waited for."""
    path = tmp_path / "read-only.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.commit()
    read_only = f"file:{path}?mode=ro"
    with contextlib.closing(sqlite3.connect(read_only, uri=True)) as connection:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            wal.into_wal(connection, 30)


def test_write_transactions_serialise_read_then_write(database_url):
    """Many threads each read a counter and write it back plus one inside
    ``write_transaction`` (with FOR UPDATE where the database has it): none is lost."""
    engine = store.engine_for(database_url)
    metadata = MetaData()
    counter = Table("test_counter", metadata, Column("id", Integer, primary_key=True),
                    Column("value", Integer), Column("note", String(10)))
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(counter.insert().values(id=1, value=0))

    def bump(times: int) -> None:
        for _ in range(times):
            with store.write_transaction(engine) as connection:
                query = select(counter.c.value).where(counter.c.id == 1)
                if engine.dialect.name != "sqlite":
                    query = query.with_for_update()
                value = connection.execute(query).scalar_one()
                connection.execute(update(counter).where(counter.c.id == 1)
                                   .values(value=value + 1))

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        assert connection.execute(select(counter.c.value)).scalar_one() == 100
        if engine.dialect.name == "sqlite":
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def _occurrence(event: str, title: str, category: str) -> dict:
    return {"event": event, "title": title, "category": category, "all_day": False,
            "start": "2025-09-02T08:00:00+03:30", "end": "2025-09-02T09:00:00+03:30"}


def _rounds() -> list[dict]:
    """Three versions of three programmes: added; changed, moved and removed; restored
    and one file gone; then the same again (nothing written: the rows read to compare
    are what is returned)."""
    first = {name: {"a": _occurrence("a", "یک", "talk"), "b": _occurrence("b", "دو", "talk"),
                    "c@2025-09-03": _occurrence("c", "سه", "visit")}
             for name in ("p1", "p2", "p3")}
    second = {**first, "p1": {**first["p1"], "a": _occurrence("a", "یک!", "visit")},
              "p2": {"a": first["p2"]["a"]}}
    third = {"p1": second["p1"], "p2": first["p2"], "p3": None}
    return [first, second, third, third]


def _comparable(revisions: revision_store.ProgrammeRevisions) -> tuple:
    return (revisions.programme, revisions.version, revisions.removed_at,
            revisions.updated_at,
            [(r.occurrence_key, r.event_id, r.sequence, r.snapshot, r.removed, r.created_at,
              r.modified_at, r.past_categories) for r in revisions.revisions])


def test_syncing_many_programmes_at_once_records_what_one_by_one_does(database_url):
    """Batch (``sync_programmes``) and one at a time (``sync_revisions``) give the same
    revisions, SEQUENCE, LAST-MODIFIED, past categories and changelog."""
    import datetime as dt
    engine = store.engine_for(database_url)
    store.create_schema(engine)
    start = dt.datetime(2025, 8, 20, 6, tzinfo=dt.timezone.utc)
    for number, occurrences in enumerate(_rounds()):
        now = start + dt.timedelta(hours=number)
        version = f"v{min(number, 2)}"
        batch = revision_store.sync_programmes(engine, [
            revision_store.ProgrammeSync(f"batch-{name}", None if found is None else version,
                                         None if found is None else {"title": name}, found)
            for name, found in occurrences.items()], now)
        for name, found in occurrences.items():
            alone = revision_store.sync_revisions(
                engine, f"alone-{name}", None if found is None else version,
                None if found is None else {"title": name}, found, now)
            assert _comparable(batch[f"batch-{name}"]) == _comparable(alone)
            read_back = revision_store.load_revisions(engine, f"batch-{name}")
            assert _comparable(read_back) == _comparable(alone)
            # What a sync returns is what a restart reads, to the repr (feeds' tokens).
            assert repr(_comparable(batch[f"batch-{name}"])) == repr(_comparable(read_back))
    for name in ("p1", "p2", "p3"):
        assert revision_store.event_history(engine, f"batch-{name}") == \
            revision_store.event_history(engine, f"alone-{name}")
    moved = next(r for r in revision_store.load_revisions(engine, "batch-p1").revisions
                 if r.occurrence_key == "a")
    assert (moved.sequence, moved.past_categories) == (1, frozenset({"talk"}))
    gone = revision_store.load_revisions(engine, "batch-p3")
    assert gone.removed_at is not None and all(r.removed for r in gone.revisions)
    engine.dispose()
