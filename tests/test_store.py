"""The store on SQLite and PostgreSQL: schema creation, and the write lock that keeps two
processes from both claiming the same row."""

from __future__ import annotations

import threading

from sqlalchemy import Column, Integer, MetaData, String, Table, select, text, update

from week_planner import store


def test_schema_is_created_on_both_databases(database_url):
    engine = store.engine_for(database_url)
    store.create_schema(engine)
    store.create_schema(engine)  # a second time changes nothing
    with engine.connect() as connection:
        for table in store.metadata.sorted_tables:
            assert connection.execute(select(table)).fetchall() == []
    engine.dispose()


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
