"""Bring a gallery database to this program's tables, with Alembic (``store/migrations/``).

Run when a gallery opens, before its own connection is made, under the folder's exclusive
lock: a fresh database gets every migration; one made before Alembic (its tables are
revision 0001's, written by hand-written DDL) is stamped as 0001 and upgraded from there; one
at a revision this program does not know was made by a newer Vision Lab, and is refused with a
sentence rather than touched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL

from store.database import BUSY_TIMEOUT_S

MIGRATIONS = Path(__file__).with_name("migrations")
BEFORE_ALEMBIC = "0001"
"""The revision whose tables every gallery made before Alembic already has."""


class NewerSchema(Exception):
    """The database is at a revision this program's migrations do not include."""


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this program knows."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or BEFORE_ALEMBIC


def upgrade_schema(url: URL | str) -> str:
    """Upgrade the database at ``url`` to ``head()`` and return it; ``NewerSchema`` when the
    database is ahead of this program."""
    engine = create_engine(url, connect_args=_connect_args(url))
    try:
        with engine.begin() as connection:
            config = _config(connection)
            current = MigrationContext.configure(connection).get_current_revision()
            script = ScriptDirectory.from_config(config)
            if current is not None and current not in {r.revision for r in script.walk_revisions()}:
                raise NewerSchema(current)
            if current is None and inspect(connection).has_table("faces"):
                command.stamp(config, BEFORE_ALEMBIC)
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    return head()


def _connect_args(url: URL | str) -> dict:
    return {"timeout": BUSY_TIMEOUT_S} if str(url).startswith("sqlite") else {}
