"""Verification and identification decisions, shared by the pages and the CLI.

Both rest on one number: the Euclidean distance between two 128-d face descriptors. dlib's
ResNet was trained so that photos of one person land within 0.6 of each other (Davis King,
"High Quality Face Recognition with Deep Metric Learning", dlib blog, 2017); a saved operating
point from the threshold lab may move that line. A distance *at or below* the threshold is a
match, as in dlib's and ``face_recognition``'s ``compare_faces``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from engine.config import Settings
from engine.errors import ModelMismatch, NoFaceFound, VisionLabError
from engine.weights import get_weights

if TYPE_CHECKING:
    from engine.faces.pipeline import Face
    from engine.faces.types import Box
    from store import Gallery, Match


class EmptyGallery(VisionLabError):
    """Identification or a claimed-identity check found no enrolled faces to compare with."""


class Threshold(NamedTuple):
    """A decision threshold and where it came from, so every result can say why it decided."""

    value: float
    source: str


def model_threshold(model_id: str) -> float:
    """The published match threshold of an embedding model (0.6 for dlib's ResNet)."""
    try:
        threshold = getattr(get_weights(model_id), "match_threshold", None)
    except ValueError:
        threshold = None
    if threshold is not None:
        return threshold
    raise ModelMismatch(f"no match threshold is known for the model {model_id!r}")


def default_threshold(settings: Settings, model_id: str) -> Threshold:
    """The saved operating point for ``model_id`` when there is one, else the model's own.

    The operating point is ``engine.evaluation.operating_point``'s file. A point chosen for
    another model is ignored: its distances are on a different scale. A damaged file is ignored
    too, and the source says so, so a page never fails for want of a threshold.
    """
    from engine.evaluation.operating_point import (
        OPERATING_POINT_FILE,
        OperatingPointUnreadable,
        read_operating_point,
    )

    fallback, label = _model_default(settings, model_id)
    try:
        point = read_operating_point(settings.data_dir)
    except OperatingPointUnreadable as exc:
        return Threshold(fallback, f"{label} ({exc})")
    if point is None or point.model_id != model_id:
        return Threshold(fallback, label)
    if not math.isfinite(point.threshold) or point.threshold <= 0:
        return Threshold(fallback, f"{label} ({OPERATING_POINT_FILE} has no valid threshold)")
    return Threshold(point.threshold, point.describe())


def _model_default(settings: Settings, model_id: str) -> tuple[float, str]:
    """A pretrained model's published threshold, or the one a trained model saved with it
    (chosen on its training people's pairs)."""
    try:
        value = model_threshold(model_id)
        return value, f"model default {value:g}"
    except ModelMismatch:
        from engine.training.models import read_metadata

        meta = read_metadata(settings.data_dir, model_id)
        if meta is None:
            raise
        value = meta.get("threshold")
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            return float(value), f"trained model's threshold {value:.3f} (its training pairs)"
        base = model_threshold(str(meta.get("base_model_id")))
        return base, f"base model's default {base:g} (the trained model saved no threshold)"


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors, computed in float64."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ModelMismatch(
            f"descriptors of different sizes ({a.size} and {b.size}) come from different models"
        )
    return float(np.linalg.norm(a - b))


@dataclass(frozen=True)
class VerificationResult:
    """One same-or-different decision, with everything needed to explain it."""

    distance: float
    threshold: float
    same: bool
    model_id: str
    threshold_source: str

    @property
    def margin(self) -> float:
        """``threshold − distance``: > 0 is how far inside the match region, < 0 outside."""
        return self.threshold - self.distance

    def as_dict(self) -> dict[str, float | bool | str]:
        return {
            "distance": self.distance,
            "threshold": self.threshold,
            "same": self.same,
            "margin": self.margin,
            "model_id": self.model_id,
            "threshold_source": self.threshold_source,
        }


def verify_embeddings(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    model_id: str,
    threshold_source: str = "given",
) -> VerificationResult:
    """Decide whether two descriptors of ``model_id`` show the same person."""
    return decide(face_distance(a, b), threshold, model_id, threshold_source)


def decide(
    distance: float, threshold: float, model_id: str, threshold_source: str
) -> VerificationResult:
    """The one rule: at or below the threshold is the same person."""
    return VerificationResult(
        distance=float(distance),
        threshold=float(threshold),
        same=distance <= threshold,
        model_id=model_id,
        threshold_source=threshold_source,
    )


@dataclass(frozen=True)
class ClaimCheck:
    """A face checked against a claimed identity: the decision and the enrolled face it used."""

    result: VerificationResult
    match: Match
    """The claimed person's enrolled face nearest the probe (its ``chip_path`` for display)."""


def verify_claim(
    gallery: Gallery,
    embedding: np.ndarray,
    person_id: str,
    threshold: Threshold,
    model_id: str,
) -> ClaimCheck:
    """Is this face the claimed person? Compared with the nearest of their enrolled faces.

    The nearest face, not the mean: a person enrolled from varied photos (glasses, age, light)
    should be recognised from any of them, as a human checker would.
    """
    if gallery.count_faces() == 0:
        raise EmptyGallery("the gallery is empty: enrol people first")
    nearest = gallery.search(embedding, k=1, model_id=model_id, person_id=person_id)
    if not nearest:
        name = gallery.get_person(person_id).name
        raise EmptyGallery(f"{name} has no enrolled faces to compare with: enrol a photo first")
    match = nearest[0]
    return ClaimCheck(decide(match.distance, threshold.value, model_id, threshold.source), match)


@dataclass(frozen=True)
class FaceIdentification:
    """One face of a probe image and its nearest gallery people, best first."""

    index: int
    box: Box
    matches: list[Match]
    threshold: float

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None

    @property
    def known(self) -> bool:
        """True when the nearest person is within the threshold; otherwise the face is unknown."""
        return self.best is not None and self.best.distance <= self.threshold

    @property
    def name(self) -> str:
        return self.best.person.name if self.known and self.best else "unknown"


@dataclass(frozen=True)
class IdentifyResult:
    """Every face of a probe image, identified against the gallery."""

    faces: list[FaceIdentification]
    threshold: float
    threshold_source: str
    model_id: str


def identify_faces(
    gallery: Gallery,
    faces: list[Face],
    threshold: Threshold,
    model_id: str,
    top_k: int = 5,
) -> IdentifyResult:
    """The ``top_k`` nearest people of each face, each person ranked by their nearest enrolled
    face (so one well-enrolled person cannot fill every slot); a face whose best match is over
    the threshold is "unknown". Faces are numbered in the order given: pass a photo's faces
    through ``left_to_right`` first so the numbers read as a viewer counts them. ``NoFaceFound``
    for no faces, ``EmptyGallery`` for no gallery.

    Recognize's threshold should be an open-set one (``engine.open_set.recognize_threshold``):
    every face is compared with every enrolled person, so a 1:1 threshold names more strangers
    as the gallery grows.
    """
    if not faces:
        raise NoFaceFound("no face was found in the image")
    if gallery.count_faces() == 0:
        raise EmptyGallery("the gallery is empty: enrol people first")
    identified = [
        FaceIdentification(
            index=i,
            box=face.box,
            matches=gallery.nearest_people(_embedding_of(face), k=top_k, model_id=model_id),
            threshold=threshold.value,
        )
        for i, face in enumerate(faces)
    ]
    return IdentifyResult(identified, threshold.value, threshold.source, model_id)


def left_to_right(faces: list[Face]) -> list[Face]:
    """Faces in reading order: by the left edge of the box, then the top (the detector lists
    them by score, which a reader of the photo cannot see)."""
    return sorted(faces, key=lambda face: (face.box.left, face.box.top))


def _embedding_of(face: Face) -> np.ndarray:
    if face.embedding is None:
        raise ValueError("the face has no embedding: analyze the image with embed=True")
    return face.embedding
