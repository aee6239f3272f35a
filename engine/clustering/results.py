"""A clustering as a page and the CLI show it: clusters largest first, singletons apart.

Each cluster carries a quality score, its **spread**: the root-mean-square distance between
its faces' pairs, √(mean ‖xᵢ − xⱼ‖²) over i ≠ j. Comparable with the match threshold (a
cluster whose spread is near or over it holds faces that are not all one another's matches),
and exact in O(n·d) from mean ‖xᵢ − xⱼ‖² = 2·(mean ‖x‖² − ‖x̄‖²) · n / (n − 1), so a 500-face
cluster costs no more than its faces. 0 for a single face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.clustering.matching import PersonMatch, PersonMatcher
from engine.clustering.options import ClusterOptions


@dataclass(frozen=True)
class Cluster:
    """One group of faces, by their row in the clustered collection."""

    label: int
    """Stable across ``extend_clustering``: an existing cluster keeps its label."""
    members: tuple[int, ...]
    face_ids: tuple[str, ...]
    spread: float
    """RMS distance between the cluster's faces (see the module docstring); 0 for one face."""
    person: PersonMatch | None = None

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class Clustering:
    """Clusters of at least ``options.min_size`` faces (largest first) and the rest apart."""

    clusters: tuple[Cluster, ...]
    singletons: tuple[Cluster, ...]
    """Groups under ``min_size`` (single faces when it is 2), in face order."""
    labels: np.ndarray = field(repr=False)
    """(n,) label per face, the ``Cluster.label`` of its group."""
    face_ids: tuple[str, ...]
    options: ClusterOptions

    @property
    def faces(self) -> int:
        return len(self.labels)

    def as_dict(self) -> dict:
        """JSON-ready: what ``cli.py cluster --out clusters.json`` writes."""

        def group(c: Cluster) -> dict:
            person = None
            if c.person is not None:
                person = {
                    "name": c.person.name,
                    "distance": round(c.person.distance, 4),
                    "votes": c.person.votes,
                    "threshold": round(c.person.threshold, 4),
                }
            return {
                "label": c.label,
                "size": c.size,
                "spread": round(c.spread, 4),
                "faces": list(c.face_ids),
                "person": person,
            }

        o = self.options
        return {
            "options": {
                "method": o.method,
                "threshold": o.threshold,
                "k": o.k,
                "min_size": o.min_size,
                "seed": o.seed,
            },
            "faces": self.faces,
            "clusters": [group(c) for c in self.clusters],
            "singletons": [group(c) for c in self.singletons],
        }


def spread(embeddings: np.ndarray) -> float:
    """Root-mean-square distance over the pairs of ``embeddings`` (0 for fewer than two)."""
    n = len(embeddings)
    if n < 2:
        return 0.0
    x = np.asarray(embeddings, np.float64)
    mean_sq_norm = float((x * x).sum(1).mean())
    centre = x.mean(0)
    mean_pair_sq = 2.0 * (mean_sq_norm - float(centre @ centre)) * n / (n - 1)
    return float(np.sqrt(max(mean_pair_sq, 0.0)))


def summarise(
    labels: np.ndarray,
    embeddings: np.ndarray,
    face_ids: Sequence[str],
    options: ClusterOptions,
    matcher: PersonMatcher | None = None,
) -> Clustering:
    """Group faces by label: clusters largest first (ties: earliest first face), each with its
    spread and, given a ``matcher``, the enrolled person it is."""
    labels = np.asarray(labels, dtype=np.int64)
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(row)
    built = []
    for label, rows in groups.items():
        members = embeddings[rows]
        person = matcher.match(members) if matcher is not None else None
        built.append(
            Cluster(
                label=label,
                members=tuple(rows),
                face_ids=tuple(face_ids[r] for r in rows),
                spread=spread(members),
                person=person,
            )
        )
    clusters = sorted(
        (c for c in built if c.size >= options.min_size), key=lambda c: (-c.size, c.members[0])
    )
    singletons = sorted((c for c in built if c.size < options.min_size), key=lambda c: c.members[0])
    return Clustering(tuple(clusters), tuple(singletons), labels, tuple(face_ids), options)
