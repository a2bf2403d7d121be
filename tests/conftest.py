"""Shared fixtures: paths to the test data, an app on a temporary instance folder."""

from __future__ import annotations

import os
import shutil
import zoneinfo
from pathlib import Path

import pytest

from week_planner import create_app

# Timezone rules come from PyPI's tzdata, never from the machine, so results (and golden
# files) are the same everywhere.
zoneinfo.reset_tzpath(to=[])

# A schedule file a test writes is served at once, and one it deletes is gone at once: the
# service's waits for a file to settle and for a vanished file to come back are tested on
# Registries built with them (test_registry, test_watching). Set in the environment so the
# servers tests start as subprocesses wait no more than the apps they build.
os.environ.setdefault("WEEK_PLANNER_SCHEDULE_SETTLE_SECONDS", "0")
os.environ.setdefault("WEEK_PLANNER_SCHEDULE_GONE_GRACE_SECONDS", "0")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"


@pytest.fixture
def schedules_dir(tmp_path: Path) -> Path:
    """A schedules folder holding a copy of the sample programme."""
    folder = tmp_path / "schedules"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    return folder


@pytest.fixture
def app(tmp_path: Path, schedules_dir: Path):
    return create_app({
        "TESTING": True,
        "SCHEDULES_DIR": str(schedules_dir),
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir",
    })


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    from reminder_helpers import SmtpServer
    server = SmtpServer().start()
    yield server
    server.stop()


def _postgres_admin_url() -> str | None:
    import os
    return os.environ.get("WEEK_PLANNER_TEST_POSTGRESQL_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path):
    """A fresh, empty database: a SQLite file, and a new PostgreSQL database.

    PostgreSQL comes from ``WEEK_PLANNER_TEST_POSTGRESQL_URL`` (``scripts/test`` starts one
    with ``scripts/postgres``). Without it the PostgreSQL runs skip on a developer's
    machine, and fail in CI, where they must run.
    """
    import os
    import uuid

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    admin_url = _postgres_admin_url()
    if not admin_url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: WEEK_PLANNER_TEST_POSTGRESQL_URL "
                        "is not set (scripts/postgres starts a server)")
        pytest.skip("no PostgreSQL server (set WEEK_PLANNER_TEST_POSTGRESQL_URL)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"week_planner_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin, name: str) -> None:
    """Drops a test database. An autovacuum worker may be in it at that moment, and the
    test role may not end a superuser's backend (WITH (FORCE) then fails): it is gone a
    moment later, so try again a few times."""
    import time
    import warnings

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for attempt in range(10):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as error:
            if attempt == 9:
                warnings.warn(f"test database {name} was not dropped: {error}")
            time.sleep(0.5)


@pytest.fixture(autouse=True)
def _close_database_connections():
    """Every engine a test used is disposed when it ends, so no pooled connection is left
    for the garbage collector to find later (a ResourceWarning, an error here, in some
    other test)."""
    import gc
    import weakref

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    used: weakref.WeakSet = weakref.WeakSet()

    def remember(connection):
        used.add(connection.engine)

    event.listen(Engine, "engine_connect", remember)
    try:
        yield
    finally:
        event.remove(Engine, "engine_connect", remember)
        for engine in list(used):
            engine.dispose()
        gc.collect()
