"""The enrolled gallery as evaluation data, leave-one-out.

Verification pairs among enrolled faces (``pairs_from_gallery``: they come embedded, with the
gallery's own chips), and identification searches of each face against the rest of the gallery
(``gallery_searches``), measured closed-set (CMC) and open-set (DIR at FPIR) by
``open_set_report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.evaluation.embedding import FACE_FOUND, EmbeddedPairs
from engine.evaluation.metrics import DirAtFpir, OpenSetCurve, cmc, dir_at_fpir, open_set_curve
from engine.evaluation.pair_sets import (
    DEFAULT_IMPOSTOR_SAMPLE,
    DatasetError,
    PairSet,
    sampled_pairs,
)

if TYPE_CHECKING:
    from store import Gallery

FPIR_TARGETS = (1e-1, 1e-2)
"""False positive identification rates that DIR is reported at."""


@dataclass(frozen=True)
class GalleryFaces:
    """Every enrolled face of the gallery's model with its person, read once."""

    face_ids: tuple[str, ...]
    people: tuple[str, ...]
    """The person's name per face."""
    embeddings: np.ndarray = field(repr=False)
    model_id: str


def gallery_faces(gallery: Gallery) -> GalleryFaces:
    face_ids: list[str] = []
    people: list[str] = []
    vectors: list[np.ndarray] = []
    for person in gallery.people():
        faces = gallery.faces_of(person.id)
        embeddings = gallery.person_embeddings(person.id)
        for face, embedding in zip(faces, embeddings, strict=True):
            face_ids.append(face.id)
            people.append(person.name)
            vectors.append(embedding)
    dim = gallery.embedding_dim
    return GalleryFaces(
        face_ids=tuple(face_ids),
        people=tuple(people),
        embeddings=np.stack(vectors) if vectors else np.zeros((0, dim), np.float32),
        model_id=gallery.model_id,
    )


def pairs_from_gallery(
    faces: GalleryFaces, impostors: int = DEFAULT_IMPOSTOR_SAMPLE, seed: int = 0
) -> EmbeddedPairs:
    """Verification pairs among enrolled faces: every genuine pair (each face against the
    person's other faces) and a seeded sample of impostor pairs."""
    if len(set(faces.people)) < 2:
        raise DatasetError("the gallery needs two or more people to make impostor pairs")
    people, person_of = np.unique(faces.people, return_inverse=True)
    if np.bincount(person_of).max() < 2:
        raise DatasetError("no person has two or more faces: there are no genuine pairs")
    sample = sampled_pairs(person_of, impostors, seed)
    pairs = PairSet(
        name="enrolled gallery",
        source="gallery",
        root=Path("."),
        images=faces.face_ids,
        identities=faces.people,
        a=sample.a,
        b=sample.b,
        same=sample.same,
        folds=np.zeros(len(sample.a), dtype=np.int64),
        note=f"{len(people):,} people, {len(faces.face_ids):,} faces: {sample.note}",
    )
    return EmbeddedPairs(
        pairs=pairs,
        embeddings=np.asarray(faces.embeddings, dtype=np.float32),
        status=np.full(len(faces.face_ids), FACE_FOUND, dtype=np.int8),
        model_id=faces.model_id,
        augment="as enrolled",
        from_gallery=True,
    )


@dataclass(frozen=True)
class GallerySearches:
    """Each enrolled face searched against the rest of the gallery.

    Mated: the face left out, the rest of its person still enrolled (people with two or more
    faces). Non-mated: the face's whole person left out, so nobody right is there to find.
    """

    people: tuple[str, ...]
    mated_distances: np.ndarray = field(repr=False)
    """(mated searches, people): distance to each person's nearest remaining face."""
    mated_truth: np.ndarray = field(repr=False)
    non_mated_nearest: np.ndarray = field(repr=False)
    """Per non-mated search: distance to the nearest other person."""


def gallery_searches(faces: GalleryFaces, block: int = 512) -> GallerySearches:
    """Leave-one-out searches of the gallery by exact distance (blocks bound the memory)."""
    people, person_of = np.unique(faces.people, return_inverse=True)
    if len(people) < 2:
        raise DatasetError("open-set identification needs two or more enrolled people")
    e = np.asarray(faces.embeddings, dtype=np.float64)
    order = np.argsort(person_of, kind="stable")
    starts = np.searchsorted(person_of[order], np.arange(len(people)))
    squared = (e**2).sum(axis=1)
    per_person = np.empty((len(e), len(people)))
    for first in range(0, len(e), block):
        rows = np.arange(first, min(first + block, len(e)))
        d2 = squared[rows, None] + squared[None, order] - 2 * e[rows] @ e[order].T
        d = np.sqrt(np.maximum(d2, 0))
        d[rows[:, None] == order[None, :]] = np.inf  # leave the probe itself out
        per_person[rows] = np.minimum.reduceat(d, starts, axis=1)
    counts = np.bincount(person_of)
    mated = counts[person_of] >= 2
    non_mated = per_person.copy()
    non_mated[np.arange(len(e)), person_of] = np.inf  # leave the probe's whole person out
    return GallerySearches(
        people=tuple(str(p) for p in people),
        mated_distances=per_person[mated],
        mated_truth=person_of[mated].astype(np.int64),
        non_mated_nearest=non_mated.min(axis=1),
    )


@dataclass(frozen=True)
class OpenSetReport:
    """What the leave-one-out searches achieve, closed-set and open-set."""

    cmc: np.ndarray = field(repr=False)
    """Entry k−1: the share of mated searches whose true person is among the k nearest."""
    curve: OpenSetCurve = field(repr=False)
    dir_at_fpir: list[DirAtFpir]
    """DIR at each of ``FPIR_TARGETS``."""

    def cmc_at(self, rank: int) -> float:
        """The rank-``rank`` identification rate (1 = the true person is the nearest)."""
        return float(self.cmc[rank - 1])


def open_set_report(searches: GallerySearches, max_rank: int = 5) -> OpenSetReport:
    """CMC up to ``max_rank``, the DIR / FPIR curve and DIR at each of ``FPIR_TARGETS``."""
    curve = open_set_curve(
        searches.mated_distances, searches.mated_truth, searches.non_mated_nearest
    )
    return OpenSetReport(
        cmc=cmc(searches.mated_distances, searches.mated_truth, max_rank=max_rank),
        curve=curve,
        dir_at_fpir=[dir_at_fpir(curve, fpir) for fpir in FPIR_TARGETS],
    )
