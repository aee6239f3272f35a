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
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from store.errors import GalleryError

__all__ = [
    "DBAPIError",
    "Database",
    "IntegrityError",
    "database_url",
    "driver_error",
    "sqlite_url",
]

DIALECTS = ("sqlite", "postgresql")
"""The databases the gallery runs on."""

ERASED_BY_REWRITE = ("face_keys", "people")
"""PostgreSQL tables rewritten after a deletion (``Database.erase_old_versions``)."""

BUSY_TIMEOUT_S = 30
"""How long a statement waits for another process's write lock before "database is locked"."""


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own error inside SQLAlchemy's wrapper: its text is the sentence a user
    reads ("file is not a database"), without the SQL and the link SQLAlchemy adds."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def sqlite_url(path: Path) -> URL:
    """The URL of the SQLite file at ``path``."""
    return URL.create("sqlite", database=str(path))


def database_url(text_url: str) -> URL:
    """``VISIONLAB_DATABASE_URL`` as a URL of a database the gallery runs on, or a sentence."""
    try:
        url = make_url(text_url)
    except ArgumentError:
        raise GalleryError(
            "VISIONLAB_DATABASE_URL is not a database URL: write it as "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"
        ) from None
    if url.get_backend_name() not in DIALECTS:
        raise GalleryError(
            f"VISIONLAB_DATABASE_URL names a {url.get_backend_name()} database; the gallery "
            "runs on SQLite (the default) or PostgreSQL"
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")  # the driver requirements.txt installs
    return url


def shown(url: URL) -> str:
    """The URL as a message may show it: never its password."""
    return url.render_as_string(hide_password=True)


def connect_args(url: URL) -> dict[str, Any]:
    """What the driver needs: one connection shared by the gallery's threads (under its lock)
    and SQLite's wait for another process's write lock."""
    if url.get_backend_name() == "sqlite":
        return {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
    return {"connect_timeout": 10}


class Database:
    """One connection, shared by the gallery's threads under the gallery's lock."""

    def __init__(self, url: URL | str) -> None:
        url = make_url(url)
        self.url = url
        self.engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args=connect_args(url)
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
        if self.dialect == "sqlite":
            return bool(self.dbapi.in_transaction)
        return self.dbapi.info.transaction_status != 0  # psycopg: 0 is IDLE

    def erase_old_versions(self) -> None:
        """After a deletion or an overwrite: the database's files keep no earlier version of
        a row. SQLite (secure_delete on): copy the log into the file and cut it.

        PostgreSQL keeps dead row versions in its table files even after VACUUM: ``VACUUM FULL``
        rewrites the two small tables whose rows say something in clear (``face_keys``: a
        deleted face's key, without which its sealed embedding and chip never open again;
        ``people``: names and notes), and a plain VACUUM tidies the rest. The write-ahead
        log is the server's: its old segments hold the rows until removed (``wal_recycle =
        off``: at the second checkpoint after), as the README's PostgreSQL section says."""
        if self.dialect == "sqlite":
            from store.erasure import checkpoint_truncate

            checkpoint_truncate(self)
            return
        for table in ERASED_BY_REWRITE:
            self.execute(f"VACUUM FULL {table}")
        for table in ("faces", "chips", "meta"):
            self.execute(f"VACUUM {table}")

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
