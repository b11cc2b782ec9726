"""Alembic environment: runs on the connection the store hands over (see bridge.store.migrate)."""

from __future__ import annotations

from alembic import context

from bridge.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
