"""Alembic environment: the connection comes from allroads.store.migrate()."""

from __future__ import annotations

from alembic import context

from allroads.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    url = context.config.get_main_option("sqlalchemy.url")
    import sqlalchemy as sa

    engine = sa.create_engine(url or "sqlite:///allroads.db")
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
