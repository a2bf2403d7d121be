"""Alembic migrations: they build exactly the tables the code defines, on SQLite and
PostgreSQL, and processes upgrading together do it once."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import event, func, inspect, select

from week_planner import store
from week_planner.cli import main

HEAD = ScriptDirectory.from_config(store.alembic_config()).get_current_head()


def test_migrations_build_the_schema_the_code_defines(database_url):
    engine = store.engine_for(database_url)
    assert store.schema_revision(engine) is None
    with engine.connect() as connection:
        command.upgrade(store.alembic_config(connection), "head")
        connection.commit()
    assert store.schema_revision(engine) == HEAD
    assert_schema_is_the_codes(engine)
    with engine.connect() as connection:
        # A new database is not migrated (store.create_schema): a migration that adds
        # rows must add them there too.
        assert all(connection.execute(select(func.count()).select_from(table)).scalar()
                   == 0 for table in store.metadata.sorted_tables)
    store.create_schema(engine)  # at head already: nothing happens
    assert store.schema_revision(engine) == HEAD
    engine.dispose()


def test_a_new_database_gets_the_same_schema_at_once(database_url):
    """An empty database is given the tables the code defines and marked at the newest
    migration without running them: the same schema as the migrations build (above), and
    Alembic then finds nothing to do."""
    engine = store.engine_for(database_url)
    store.create_schema(engine)
    assert store.schema_revision(engine) == HEAD
    assert_schema_is_the_codes(engine)
    with engine.connect() as connection:
        command.upgrade(store.alembic_config(connection), "head")
        connection.commit()
        context = MigrationContext.configure(connection)
        assert context.get_current_heads() == (HEAD,)
    engine.dispose()


def assert_schema_is_the_codes(engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, store.metadata) == []
    assert set(inspect(engine).get_table_names()) == \
        set(store.metadata.tables) | {"alembic_version"}


def test_upgrading_from_the_first_schema_keeps_the_data(database_url):
    engine = store.engine_for(database_url)
    with engine.connect() as connection:
        command.upgrade(store.alembic_config(connection), "0001")
        connection.commit()
    now = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(store.subscribers.insert().values(
            programme_id="khalilabad-1404", scope="programme", channel="email",
            address="a@example.org", source="web", created_at=now, confirmed_at=now,
            code_attempts=0))
    assert "rate_hits" not in inspect(engine).get_table_names()
    store.create_schema(engine)
    assert store.schema_revision(engine) == HEAD != "0001"
    assert "rate_hits" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        (row,) = connection.execute(store.subscribers.select()).all()
    assert (row.address, row.confirmed_at) == ("a@example.org", now)
    engine.dispose()


def test_an_older_database_is_upgraded_in_one_write_transaction(tmp_path):
    """Alembic commits after each migration on SQLite: ``create_schema`` holds one write
    transaction around them all, so that a process starting meanwhile never finds the
    database half upgraded and runs the same migrations again."""
    engine = store.engine_for(f"sqlite:///{tmp_path / 'older.sqlite3'}")
    with engine.connect() as connection:
        command.upgrade(store.alembic_config(connection), "0001")
        connection.commit()
    statements, commits = [], []
    event.listen(engine, "before_cursor_execute",
                 lambda connection, cursor, statement, *rest: statements.append(statement))
    event.listen(engine, "commit", lambda connection: commits.append(connection))
    store.create_schema(engine)
    assert store.schema_revision(engine) == HEAD
    assert statements.count("BEGIN IMMEDIATE") == 1 and len(commits) == 1
    engine.dispose()


def test_processes_upgrading_together_upgrade_once(database_url):
    """On PostgreSQL with REPEATABLE READ as the default isolation too: a process that
    waited for the lock must see the tables the first one made."""
    if database_url.startswith("postgresql"):
        database_url += "?options=-c%20default_transaction_isolation%3Drepeatable%5C%20read"
    code = ("import sys; from week_planner import store; "
            "store.create_schema(store.engine_for(sys.argv[1]))")
    processes = [subprocess.Popen([sys.executable, "-c", code, database_url],
                                  stderr=subprocess.PIPE) for _ in range(3)]
    for process in processes:
        _, error = process.communicate(timeout=60)
        assert process.returncode == 0, error.decode()
    engine = store.engine_for(database_url)
    assert store.schema_revision(engine) == HEAD
    engine.dispose()


def test_the_newest_migration_named_in_the_code_is_alembics():
    assert store.MIGRATIONS_HEAD == HEAD


def test_only_an_older_database_loads_alembic(tmp_path):
    """Alembic's import and its walk through the migrations are 0.4 s of a start: a new
    database and one at the newest migration are made or only read without it; one made
    by an older version is upgraded by it."""
    code = ("import sys; from week_planner import store; "
            "store.create_schema(store.engine_for(sys.argv[1])); "
            "print('alembic' in sys.modules)")
    new, older = (f"sqlite:///{tmp_path / name}"
                  for name in ("new.sqlite3", "older.sqlite3"))

    def loaded(url: str) -> str:
        return subprocess.run([sys.executable, "-c", code, url], capture_output=True,
                              text=True, timeout=60, check=True).stdout.strip()

    assert [loaded(new), loaded(new)] == ["False", "False"]
    engine = store.engine_for(older)
    with engine.connect() as connection:
        command.upgrade(store.alembic_config(connection), "0003")
        connection.commit()
    assert loaded(older) == "True"
    assert store.schema_revision(engine) == HEAD
    engine.dispose()


def test_db_upgrade_command(tmp_path, monkeypatch):
    monkeypatch.setenv("WEEK_PLANNER_INSTANCE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert HEAD in result.output
    engine = store.engine_for(f"sqlite:///{tmp_path / 'week-planner.sqlite3'}")
    assert "reminder_outbox" in inspect(engine).get_table_names()
    engine.dispose()


def test_upgrading_gives_every_subscription_a_random_link_key(database_url):
    """Unsubscribe links name a subscription by a random key (0003): the subscriptions
    made before get one each, so their next reminders carry the new kind of link."""
    engine = store.engine_for(database_url)
    with engine.connect() as connection:
        command.upgrade(store.alembic_config(connection), "0002")
        connection.commit()
    now = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
    with engine.begin() as connection:
        for address in ("a@example.org", "b@example.org"):
            connection.execute(store.subscribers.insert().values(
                programme_id="khalilabad-1404", scope="programme", channel="email",
                address=address, source="web", created_at=now, confirmed_at=now,
                code_attempts=0))
    store.create_schema(engine)
    with engine.connect() as connection:
        keys = [row.link_key for row in connection.execute(store.subscribers.select())]
    assert len(set(keys)) == 2 and all(key and len(key) >= 32 for key in keys)
    engine.dispose()


def test_the_revisions_form_one_line():
    """One head and no branch: two revisions written at once with the same parent (the
    organisers' desk's 0004 follows 0003) would make Alembic refuse to upgrade."""
    script = ScriptDirectory.from_config(store.alembic_config())
    assert script.get_heads() == [HEAD]
    chain = [revision.revision for revision in script.walk_revisions()]
    assert chain == sorted(chain, reverse=True) and chain[-1] == "0001"
    assert script.get_revision("0004").down_revision == "0003"
