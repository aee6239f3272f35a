"""The gallery's one connection to its database, through SQLAlchemy Core.

The store's SQL is plain, portable SQL (``ON CONFLICT`` rather than SQLite's ``INSERT OR``
forms) with ``?`` placeholders; ``Database.execute`` names them and runs the statement as a
SQLAlchemy ``text()``, so the driver's own parameter style, types and errors are SQLAlchemy's
business. The tables are ``store.schema``'s, made and upgraded by ``store.migrate``.

Transactions are explicit, as the gallery's commit protocol needs (``store.db.transaction``):
the connection is in autocommit mode and a write runs between ``BEGIN IMMEDIATE`` (SQLite: the
write lock is taken at BEGIN, so two writers queue instead of failing at their first write) and
``COMMIT`` / ``ROLLBACK``, each an ``execute`` like any other statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError

__all__ = ["DBAPIError", "Database", "IntegrityError", "sqlite_url"]

BUSY_TIMEOUT_S = 30
"""How long a statement waits for another process's write lock before "database is locked"."""


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own error inside SQLAlchemy's wrapper: its text is the sentence a user
    reads ("file is not a database"), without the SQL and the link SQLAlchemy adds."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def sqlite_url(path: Path) -> URL:
    """The URL of the SQLite file at ``path``."""
    return URL.create("sqlite", database=str(path))


class Database:
    """One connection, shared by the gallery's threads under the gallery's lock."""

    def __init__(self, url: URL | str) -> None:
        self.engine = create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        )
        self.dialect = self.engine.dialect.name
        self._connection = self.engine.connect()

    @property
    def dbapi(self) -> Any:
        """The driver's own connection (``sqlite3.Connection``), for what only it can do."""
        return self._connection.connection.dbapi_connection

    @property
    def begin_write(self) -> str:
        """The statement that opens a write transaction."""
        return "BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN"

    @property
    def in_transaction(self) -> bool:
        return bool(self.dbapi.in_transaction)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> CursorResult:
        """Run ``sql``; its ``?`` placeholders take ``params`` in order."""
        if isinstance(params, Mapping):
            return self._connection.execute(text(sql), dict(params))
        parts = sql.split("?")
        if len(parts) - 1 != len(params):
            raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} values")
        named = "".join(
            part + (f":p{i}" if i < len(params) else "") for i, part in enumerate(parts)
        )
        return self._connection.execute(text(named), {f"p{i}": v for i, v in enumerate(params)})

    def close(self) -> None:
        self._connection.close()
        self.engine.dispose()
