"""Which enrolled person, if any, a cluster of faces is: the open-set rule of Recognize.

The gallery comes in as plain arrays (one row per enrolled face, with its person's name), so
this is testable without Chroma; a page or the CLI reads them with
``engine.evaluation.gallery.gallery_faces(gallery)`` and takes the threshold from
``engine.open_set.recognize_threshold`` (the gallery's size sets it: with thousands of people
enrolled, a stranger is near *someone* far more often than in a 1:1 check).

A cluster's candidate is the person most of its faces have as nearest enrolled person (ties:
the smaller median distance). It is that person when the median, over the cluster's faces, of
the distance to that person's nearest enrolled face is at or below the threshold: one odd face
neither makes nor breaks the match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.clustering.neighbours import nearest

CANDIDATE_FACES = 50
"""Enrolled faces looked at per clustered face: enough to find the candidate person's nearest
face among the gallery's closest ones (farther than that, it is over any threshold)."""


@dataclass(frozen=True)
class PersonMatch:
    """The enrolled person a cluster (or a single face) was matched to."""

    name: str
    distance: float
    """Median over the cluster's faces of the distance to this person's nearest enrolled face."""
    votes: int
    """The cluster's faces whose nearest enrolled person this is."""
    threshold: float


@dataclass(frozen=True)
class PersonMatcher:
    """Enrolled faces as arrays, and the open-set threshold to name a cluster with."""

    embeddings: np.ndarray = field(repr=False)
    """(m, d) enrolled face embeddings."""
    names: tuple[str, ...]
    """The person's name per enrolled face."""
    threshold: float

    def __post_init__(self) -> None:
        if len(self.names) != len(self.embeddings):
            raise ValueError("the matcher needs one name per enrolled embedding")

    @classmethod
    def from_arrays(
        cls, embeddings: np.ndarray, names: Sequence[str], threshold: float
    ) -> PersonMatcher:
        return cls(np.asarray(embeddings, np.float32), tuple(names), float(threshold))

    def match(self, faces: np.ndarray) -> PersonMatch | None:
        """The person the faces (one cluster's embeddings) are, or None (see the module)."""
        if len(self.names) == 0 or len(faces) == 0:
            return None
        found = nearest(faces, self.embeddings, min(CANDIDATE_FACES, len(self.names)))
        names = np.array(self.names, dtype=object)
        per_face: list[dict[str, float]] = []
        for row, dist in zip(found.indices, found.distances, strict=True):
            nearest_of: dict[str, float] = {}
            for i, d in zip(row, dist, strict=True):
                if i >= 0:
                    nearest_of.setdefault(names[i], float(d))  # rows are nearest first
            per_face.append(nearest_of)
        votes = Counter(names[row[0]] for row in found.indices)

        def median_to(name: str) -> float:
            return float(np.median([f.get(name, np.inf) for f in per_face]))

        top = max(votes.values())
        name = min((n for n, v in votes.items() if v == top), key=lambda n: (median_to(n), n))
        distance = median_to(name)
        if distance > self.threshold:
            return None
        return PersonMatch(name, distance, votes[name], self.threshold)
