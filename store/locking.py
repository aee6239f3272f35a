"""One gallery folder, several processes: an advisory lock file that serialises their writes.

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
from typing import Literal

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


class GalleryFolderLock:
    """``flock`` on ``<folder>/gallery.lock``, re-entrant within one object.

    A nested ``exclusive()`` or ``shared()`` inside an ``exclusive()`` only counts depth; asking
    for ``exclusive()`` inside ``shared()`` is refused (``flock`` would convert the lock in
    place, letting another writer in between).
    """

    def __init__(self, folder: Path, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(folder) / LOCK_FILE_NAME
        self.timeout_s = timeout_s
        self._guard = threading.RLock()
        self._fd: int | None = None
        self._mode: Mode | None = None
        self._depth = 0

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held by one process at a time: every write to the folder happens under it."""
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
                    self._release()

    def _acquire(self, mode: Mode) -> None:
        if fcntl is None:
            self._mode = mode
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # umask applies, as to gallery.db
        flag = fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH
        deadline = time.monotonic() + self.timeout_s
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, flag | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreUnavailable(
                        f"another program has held the gallery lock {self.path} for over "
                        f"{self.timeout_s:.0f} s. If no Vision Lab app or cli.py job is "
                        "running, a stuck one may be holding it: end that process."
                    ) from None
                time.sleep(pause)  # polled rather than blocking so that the wait can time out
                pause = min(pause * 2, 0.02)
            except BaseException:
                os.close(fd)
                raise
        self._fd, self._mode = fd, mode

    def _release(self) -> None:
        fd, self._fd, self._mode = self._fd, None, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock
