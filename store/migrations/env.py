"""Alembic's environment for the gallery's database: always run from ``store.migrate`` with the
connection it opened (``config.attributes["connection"]``), never from an ini file."""

from __future__ import annotations

from alembic import context

from store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
