"""Alembic migrations: they build exactly the tables the code defines, on SQLite and
PostgreSQL, and processes upgrading together do it once."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from week_planner import store
from week_planner.cli import main


def test_migrations_build_the_schema_the_code_defines(database_url):
    engine = store.engine_for(database_url)
    assert store.schema_revision(engine) is None
    store.create_schema(engine)
    assert store.schema_revision(engine) == "0001"
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, store.metadata) == []
    assert set(inspect(engine).get_table_names()) == \
        set(store.metadata.tables) | {"alembic_version"}
    store.create_schema(engine)  # at head already: nothing happens
    assert store.schema_revision(engine) == "0001"
    engine.dispose()


def test_processes_upgrading_together_upgrade_once(database_url):
    code = ("import sys; from week_planner import store; "
            "store.create_schema(store.engine_for(sys.argv[1]))")
    processes = [subprocess.Popen([sys.executable, "-c", code, database_url],
                                  stderr=subprocess.PIPE) for _ in range(3)]
    for process in processes:
        _, error = process.communicate(timeout=60)
        assert process.returncode == 0, error.decode()
    engine = store.engine_for(database_url)
    assert store.schema_revision(engine) == "0001"
    engine.dispose()


def test_db_upgrade_command(tmp_path, monkeypatch):
    monkeypatch.setenv("WEEK_PLANNER_INSTANCE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "0001" in result.output
    engine = store.engine_for(f"sqlite:///{tmp_path / 'week-planner.sqlite3'}")
    assert "reminder_outbox" in inspect(engine).get_table_names()
    engine.dispose()
