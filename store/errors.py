"""Typed errors of the gallery store; pages turn them into plain messages.

``ModelMismatch`` is the engine's own class, re-exported so a caller catching it around a search
or an enrol needs only ``store``.
"""

from __future__ import annotations

from engine.errors import ModelMismatch, VisionLabError

__all__ = [
    "CorruptStore",
    "FaceNotFound",
    "GalleryError",
    "InvalidExport",
    "ModelMismatch",
    "NameTaken",
    "PersonNotFound",
    "StoreUnavailable",
]


class GalleryError(VisionLabError):
    """Base class for every error the gallery raises on purpose."""


class PersonNotFound(GalleryError):
    """No person with that id (or name) is in the gallery."""


class FaceNotFound(GalleryError):
    """No stored face with that id is in the gallery."""


class NameTaken(GalleryError):
    """Another person already has that name (names are unique, ignoring case)."""


class CorruptStore(GalleryError):
    """The gallery's database or vector index is unreadable, missing or belongs elsewhere.

    The message says what was found and how to recover (usually: move the folder aside and
    import an export).
    """


class StoreUnavailable(GalleryError):
    """The Chroma server (``CHROMA_HOST``) cannot be reached."""


class InvalidExport(GalleryError):
    """A gallery export is malformed, unsafe (path traversal, zip bomb) or fails its checksums."""
