"""Typed errors of the gallery store; pages turn them into plain messages.

``ModelMismatch`` is the engine's own class, re-exported so a caller catching it around a search
or an enrol needs only ``store``.
"""

from __future__ import annotations

from engine.errors import ModelMismatch, VisionLabError

__all__ = [
    "AmbiguousPerson",
    "CorruptStore",
    "FaceNotFound",
    "GalleryError",
    "InvalidExport",
    "InvalidName",
    "ModelMismatch",
    "NameTaken",
    "PersonNotFound",
    "StorageFull",
    "StoreBusy",
    "StoreFault",
    "StoreUnavailable",
    "StoreWriteFailed",
]


class GalleryError(VisionLabError):
    """Base class for every error the gallery raises on purpose."""


class PersonNotFound(GalleryError):
    """No person with that id (or name) is in the gallery."""


class AmbiguousPerson(GalleryError):
    """A name given where one person is meant matches several (names written before
    ``store.names`` normalised them, or a name equal to another person's id)."""


class FaceNotFound(GalleryError):
    """No stored face with that id is in the gallery."""


class InvalidName(GalleryError, ValueError):
    """A person's name the gallery refuses (empty, too long, control characters, id-like); see
    ``store.names``. A ``ValueError`` too, as the name checks raised before."""


class NameTaken(GalleryError):
    """Another person already has that name (names are unique, ignoring case)."""


class CorruptStore(GalleryError):
    """The gallery's database or vector index is unreadable, missing or belongs elsewhere.

    The message says what was found and how to recover (usually: move the folder aside and
    import an export).
    """


class StoreFault(GalleryError):
    """The machine under the store failed an operation: the index server went away, the disk
    is full, the database is locked. The message is one sentence that says nothing was changed
    (the operation was undone) and what to check; no errno text, no paths. A bulk job stops at
    one (``engine.enrollment``) with its summary so far."""


class StoreUnavailable(StoreFault):
    """The Chroma server (``CHROMA_HOST``) cannot be reached, or the gallery folder's lock
    cannot be had."""


class StorageFull(StoreFault):
    """The disk (or the quota) holding the gallery or an export has no room left."""


class StoreBusy(StoreFault):
    """Another program holds the gallery's database locked for longer than we wait."""


class StoreWriteFailed(StoreFault):
    """The disk refused a write: an I/O error, or a read-only file system."""


class InvalidExport(GalleryError):
    """A gallery export is malformed, unsafe (path traversal, zip bomb) or fails its checksums."""
