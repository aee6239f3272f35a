"""The gallery as one actor may use it: every change or search passes the permission table.

The app keeps one ``Gallery`` per process (it holds Chroma's client and the database open) and
gives each session a ``GuardedGallery`` over it with that session's actor. A page that forgets to
hide a button still gets ``PermissionDenied`` from here. Methods that are not listed below are
not reachable at all, so a method added to ``Gallery`` stays closed until it is classified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.permissions import Action, Actor
from store.gallery import Gallery

GUARDED: dict[str, Action] = {
    "add_person": Action.ENROL,
    "enroll": Action.ENROL,
    "search": Action.RECOGNIZE,
    "nearest_people": Action.RECOGNIZE,
    "rename": Action.RENAME,
    "set_notes": Action.EDIT_NOTES,
    "delete_face": Action.REMOVE_FACE,
    "delete_person": Action.DELETE_PERSON,
    "merge": Action.MERGE,
    "export_zip": Action.EXPORT,
    "import_zip": Action.IMPORT,
}
"""Gallery methods that change shared state or reveal it in bulk, and the action each is."""

READS: frozenset[str] = frozenset(
    {
        "model_id",
        "embedding_dim",
        "location",
        "people",
        "count_people",
        "count_faces",
        "get_person",
        "find_person",
        "faces_of",
        "get_face",
        "faces_from_image",
        "person_embeddings",
        "chip_png",
        "chip_rgb",
    }
)
"""What every logged-in role may read: who is enrolled, their face thumbnails, the counts."""

OPERATOR_ONLY: frozenset[str] = frozenset(
    {"open", "reconcile", "close", "database_label", "copy_to"}
)
"""Upkeep the process that owns the gallery does itself; never reachable through a session."""


class GuardedGallery:
    """``gallery`` as ``actor`` may use it (see the module docstring)."""

    def __init__(self, gallery: Gallery, actor: Actor) -> None:
        self._gallery = gallery
        self.actor = actor

    @property
    def unguarded(self) -> Gallery:
        """For engine code that an operator runs (the CLI); pages never need it."""
        return self._gallery

    def __getattr__(self, name: str) -> Any:
        if name in READS:
            return getattr(self._gallery, name)
        action = GUARDED.get(name)
        if action is None:
            raise AttributeError(f"Gallery.{name} is not available to a session")
        method: Callable[..., Any] = getattr(self._gallery, name)

        def checked(*args: Any, **kwargs: Any) -> Any:
            self.actor.require(action)
            return method(*args, **kwargs)

        return checked
