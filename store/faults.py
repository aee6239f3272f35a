"""Faults of the machine under the store, turned into typed errors that read as one sentence.

A full disk, a database another program holds locked, a disk error or a read-only mount reach
us as ``sqlite3.OperationalError`` or ``OSError`` whose text ("[Errno 28] No space left on
device: '/srv/…/chips/…'") means nothing to a user and shows a server path. Every gallery write
runs inside :func:`storage_faults`, which raises the matching ``StoreFault`` instead; the write
itself has already been undone by then (``store.face_writes.write_faces``), so the sentence can
say so.
Errors that are not such faults pass through untouched.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from store.database import driver_error
from store.errors import StorageFull, StoreBusy, StoreFault, StoreWriteFailed

NOTHING_CHANGED = "nothing was changed"

_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EROFS}
_DISK_ERROR = {errno.EIO}

_FULL_TEXT = ("database or disk is full", "no space left on device", "disk quota exceeded")
_BUSY_TEXT = ("database is locked", "database table is locked")
_READ_ONLY_TEXT = ("readonly database", "read-only file system")
_DISK_ERROR_TEXT = ("disk i/o error",)


def fault_of(
    exc: BaseException, place: str = "the gallery", outcome: str = NOTHING_CHANGED
) -> StoreFault | None:
    """The ``StoreFault`` that ``exc`` is, worded for ``place`` (what was being written) and
    ``outcome`` (what became of the operation); None when ``exc`` is no such fault."""
    if isinstance(exc, StoreFault):
        return None
    exc = driver_error(exc)  # SQLAlchemy's wrapper adds the SQL to the driver's text
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc).lower()
    if code in _FULL or any(t in text for t in _FULL_TEXT):
        return StorageFull(
            f"The disk holding {place} is full (or over its quota); {outcome}. Free some "
            "space, then try again."
        )
    if any(t in text for t in _BUSY_TEXT):
        return StoreBusy(
            f"The database of {place} is locked by another program; {outcome}. Try again in "
            "a moment; if it lasts, ask the operator what holds gallery.db open."
        )
    if code in _READ_ONLY or any(t in text for t in _READ_ONLY_TEXT):
        return StoreWriteFailed(
            f"The disk holding {place} is read-only; {outcome}. Ask the operator to make it "
            "writable, then try again."
        )
    if code in _DISK_ERROR or any(t in text for t in _DISK_ERROR_TEXT):
        return StoreWriteFailed(
            f"The disk holding {place} reported an error while writing; {outcome}. Ask the "
            "operator to check the disk, then try again."
        )
    return None


@contextmanager
def storage_faults(place: str = "the gallery", outcome: str = NOTHING_CHANGED) -> Iterator[None]:
    """Re-raise a disk or database fault inside the block as its ``StoreFault``."""
    try:
        yield
    except Exception as exc:  # Chroma wraps SQLite's errors in its own classes
        fault = fault_of(exc, place, outcome)
        if fault is None:
            raise
        raise fault from exc
