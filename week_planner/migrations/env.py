"""Alembic's environment for week-planner's schema (``store.metadata``).

Run by ``store.create_schema(engine)`` (and ``week-planner db upgrade``) inside the one
write transaction it holds (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so
processes starting together upgrade once, one after the other. Run on a connection of
its own (Alembic's command line), it takes the same lock, but on SQLite Alembic commits
after each migration and the lock is let go in between.
"""

from alembic import context
from sqlalchemy import text

from week_planner.store import MIGRATIONS_LOCK_ID, engine_for, metadata


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    connection.info["begin_immediate"] = True
    try:
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                                   {"id": MIGRATIONS_LOCK_ID})
            context.run_migrations()
    finally:
        connection.info.pop("begin_immediate", None)


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = engine_for(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as fresh:
        run(fresh)
    engine.dispose()
