"""The gallery's records: people, their faces, and what enrolment, search, import and reconcile
return.

Frozen dataclasses with no database or Chroma behind them, apart from the code that fills them,
so that pages, the CLI and tests read them without knowing how the gallery stores anything.
``store.gallery`` (and ``store``) re-export them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from store.errors import ModelMismatch

if TYPE_CHECKING:
    from engine.faces.pipeline import Face

DEFAULT_MODEL_ID = "dlib-resnet-v1"
"""``engine.faces.weights.FACE_RESNET_V1.model_id``, literal so the store loads without torch."""
DEFAULT_EMBEDDING_DIM = 128


@dataclass(frozen=True)
class Person:
    """Someone in the gallery; ``face_count`` counts faces of the gallery's model."""

    id: str
    name: str
    created: str
    notes: str
    face_count: int


@dataclass(frozen=True)
class StoredFace:
    """An enrolled face: where its chip is, where it came from, and which model embedded it."""

    id: str
    person_id: str
    chip_path: Path | None
    """The chip's file; None on a database server. ``Gallery.chip_png`` reads it on both."""
    image_sha256: str
    box: tuple[float, float, float, float]
    """(left, top, right, bottom) in the source image's pixels, dlib's inclusive convention."""
    landmarks: list[list[float]]
    score: float
    created: str
    model_id: str


@dataclass(frozen=True)
class NewFace:
    """A face to enrol: its embedding, its chip and where it was found."""

    embedding: np.ndarray = field(repr=False)
    chip: np.ndarray = field(repr=False)
    image_sha256: str
    box: tuple[float, float, float, float]
    landmarks: np.ndarray = field(repr=False)
    score: float
    model_id: str

    @classmethod
    def from_face(cls, face: Face, image_sha256: str, model_id: str) -> NewFace:
        """From the pipeline's ``Face`` (which must carry its embedding)."""
        if face.embedding is None:
            raise ValueError("the face has no embedding: run the pipeline with embed=True")
        b = face.box
        return cls(
            embedding=np.asarray(face.embedding, dtype=np.float32),
            chip=np.asarray(face.chip),
            image_sha256=image_sha256,
            box=(float(b.left), float(b.top), float(b.right), float(b.bottom)),
            landmarks=np.asarray(face.landmarks, dtype=np.float64),
            score=float(face.score),
            model_id=model_id,
        )


@dataclass(frozen=True)
class EnrollResult:
    """``"duplicate"``: that face of that image was already stored; ``face_id`` and ``person``
    are then the stored face's, which may be another person than the one asked for."""

    status: Literal["enrolled", "duplicate"]
    face_id: str
    person: Person


@dataclass(frozen=True)
class Match:
    """A gallery face near a probe; ``distance`` is the exact Euclidean distance."""

    person: Person
    face_id: str
    distance: float
    chip_path: Path | None
    """As ``StoredFace.chip_path``; ``Gallery.chip_png(face_id)`` reads the chip."""
    model_id: str = DEFAULT_MODEL_ID


@dataclass(frozen=True)
class ImportSummary:
    people_created: int
    people_matched: int
    """Exported people found here already (same id, or same name ignoring case)."""
    faces_imported: int
    faces_skipped: int
    """Faces already stored (same image and box): not imported twice."""
    model_id: str


@dataclass(frozen=True)
class ReconcileReport:
    """What ``reconcile()`` found and fixed; all lists hold file paths or face ids."""

    orphan_chips_removed: list[str] = field(default_factory=list)
    orphan_embeddings_removed: list[str] = field(default_factory=list)
    embeddings_restored: list[str] = field(default_factory=list)
    embeddings_repointed: list[str] = field(default_factory=list)
    faces_without_chip: list[str] = field(default_factory=list)
    """Reported, not deleted: the face still recognises; only its thumbnail is gone."""

    @property
    def changed(self) -> bool:
        return bool(
            self.orphan_chips_removed
            or self.orphan_embeddings_removed
            or self.embeddings_restored
            or self.embeddings_repointed
        )

    def __str__(self) -> str:
        parts = [
            f"{len(self.orphan_chips_removed)} orphan chip files removed",
            f"{len(self.orphan_embeddings_removed)} orphan embeddings removed",
            f"{len(self.embeddings_restored)} embeddings restored",
            f"{len(self.embeddings_repointed)} embeddings re-pointed",
            f"{len(self.faces_without_chip)} faces without a chip",
        ]
        return ", ".join(parts)


def check_embedding(
    embedding: np.ndarray, model_id: str | None, gallery_model_id: str, embedding_dim: int
) -> np.ndarray:
    """``embedding`` as float32 when it can be one of ``gallery_model_id``'s (``model_id``, when
    given, names the model that made it); ``ModelMismatch`` or ``ValueError`` otherwise."""
    if model_id is not None and model_id != gallery_model_id:
        raise ModelMismatch(
            f"this embedding comes from model {model_id!r} but the gallery holds "
            f"{gallery_model_id!r} embeddings: distances between models mean nothing. "
            f"Re-embed the face with {gallery_model_id!r}."
        )
    vector = np.asarray(embedding)
    if vector.ndim != 1 or vector.shape[0] != embedding_dim:
        raise ModelMismatch(
            f"expected a {embedding_dim}-d embedding of {gallery_model_id!r}, got a "
            f"{'×'.join(map(str, vector.shape)) or 'scalar'}-d one: it comes from another "
            "model"
        )
    if not np.issubdtype(vector.dtype, np.number) or not np.all(np.isfinite(vector)):
        raise ValueError("the embedding holds non-numbers (NaN or infinity)")
    return vector.astype(np.float32)


def now() -> str:
    """The creation time the gallery stores: UTC, ISO 8601, whole seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id() -> str:
    """A person or face id: 32 lowercase hex digits (names never look like one)."""
    return uuid.uuid4().hex
