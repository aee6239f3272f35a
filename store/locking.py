"""One gallery, several processes: an advisory lock that serialises their writes (a lock file
beside a SQLite gallery, a PostgreSQL advisory lock for a gallery on a database server).

``Gallery`` already serialises its own threads with a re-entrant lock. Two app instances, or the
app and a ``cli.py enroll`` job, are separate processes with separate locks, so every write
transaction (and the reconcile run on open) also holds :class:`GalleryFolderLock` exclusively.
Readers that reload the Chroma index from disk hold it shared, so they never load files another
process is half-way through writing.

``fcntl.flock`` is the primitive on purpose: the kernel releases it when its holder dies, even
by ``kill -9``, so a crashed writer never leaves the folder locked (what it leaves half-written
is repaired by ``Gallery.reconcile`` on the next open). It is advisory: only programs that take
it are kept out. It does not work across NFS/SMB mounts on every system; keep the gallery on a
local disk when several processes share it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from store.errors import StoreUnavailable

try:
    import fcntl
except ImportError:  # Windows: no flock; one process per gallery folder, as before
    fcntl = None  # type: ignore[assignment]

LOCK_FILE_NAME = "gallery.lock"
LOCK_TIMEOUT_S = 120.0
"""How long a writer waits for another process before giving up with ``StoreUnavailable``.
Writes hold the lock for milliseconds (an import batch: about a second), so waiting this long
means the holder is stuck, not busy."""

Mode = Literal["shared", "exclusive"]


class _ReentrantProcessLock:
    """A lock between processes, re-entrant within one object; subclasses say how to take
    (``_try``) and drop (``_drop``) it once.

    A nested ``exclusive()`` or ``shared()`` inside an ``exclusive()`` only counts depth; asking
    for ``exclusive()`` inside ``shared()`` is refused (the primitive would convert the lock in
    place, letting another writer in between).
    """

    def __init__(self, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._guard = threading.RLock()
        self._mode: Mode | None = None
        self._depth = 0

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held by one process at a time: every write to the gallery happens under it."""
        with self._held("exclusive"):
            yield

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Held by any number of readers, never while a writer holds ``exclusive()``."""
        with self._held("shared"):
            yield

    @property
    def held(self) -> Mode | None:
        return self._mode

    @contextmanager
    def _held(self, mode: Mode) -> Iterator[None]:
        with self._guard:
            if self._depth:
                if mode == "exclusive" and self._mode == "shared":
                    raise RuntimeError("cannot take the gallery lock exclusively while shared")
            else:
                self._acquire(mode)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if not self._depth:
                    self._mode = None
                    self._drop()

    def _acquire(self, mode: Mode) -> None:
        """Poll ``_try`` (rather than block) so that the wait can time out."""
        deadline = time.monotonic() + self.timeout_s
        pause = 0.001
        while not self._try(mode):
            if time.monotonic() >= deadline:
                self._give_up()
                raise StoreUnavailable(
                    f"another program has held the gallery lock {self.describe()} for over "
                    f"{self.timeout_s:.0f} s. If no Vision Lab app or cli.py job is running, a "
                    "stuck one may be holding it: end that process."
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        self._mode = mode

    def _try(self, mode: Mode) -> bool:
        raise NotImplementedError

    def _give_up(self) -> None:
        """A wait timed out: let go of what ``_try`` opened."""

    def _drop(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class GalleryFolderLock(_ReentrantProcessLock):
    """``flock`` on ``<folder>/gallery.lock`` (a gallery whose database is a SQLite file)."""

    def __init__(self, folder: Path, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self.path = Path(folder) / LOCK_FILE_NAME
        self._fd: int | None = None

    def describe(self) -> str:
        return str(self.path)

    def _try(self, mode: Mode) -> bool:
        if fcntl is None:
            return True
        if self._fd is None:  # umask applies, as to gallery.db
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        flag = fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH
        try:
            fcntl.flock(self._fd, flag | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except BaseException:
            self._give_up()
            raise
        return True

    def _give_up(self) -> None:
        self._drop()

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock


class DatabaseLock(_ReentrantProcessLock):
    """A PostgreSQL advisory lock (session level) on a connection of its own: the same role as
    the folder lock for instances on several machines that share one database server.

    The server releases it when the holder's session ends, ``kill -9`` included, as the kernel
    does a ``flock``.
    """

    KEY = 0x5649_5349_4F4E  # "VISION": one gallery per database, so one key
    """The advisory lock's key."""

    def __init__(self, engine: Any, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self._engine = engine
        self._connection: Any = None
        self._taken: Mode | None = None

    def describe(self) -> str:
        return f"(PostgreSQL advisory lock {self.KEY} on {self._engine.url.render_as_string()})"

    def _try(self, mode: Mode) -> bool:
        from sqlalchemy import text

        if self._connection is None:
            self._connection = self._engine.connect()
        function = "pg_try_advisory_lock" if mode == "exclusive" else "pg_try_advisory_lock_shared"
        got = self._connection.execute(text(f"SELECT {function}(:key)"), {"key": self.KEY})
        if got.scalar():
            self._taken = mode
            return True
        return False

    def _drop(self) -> None:
        from sqlalchemy import text

        if self._connection is None or self._taken is None:
            return
        function = (
            "pg_advisory_unlock" if self._taken == "exclusive" else "pg_advisory_unlock_shared"
        )
        self._taken = None
        self._connection.execute(text(f"SELECT {function}(:key)"), {"key": self.KEY})

    def close(self) -> None:
        """Release the lock if taken (also from inside ``exclusive()``, as a failed open does)
        and close the connection: a pooled connection would keep a session lock alive."""
        with self._guard:
            self._drop()
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._engine.dispose()
