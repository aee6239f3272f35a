"""A person's corrections to a clustering: merge two clusters, move faces out of one.

Each edit returns a new ``Clustering`` (labels of untouched clusters kept, spread and enrolled
person recomputed for the changed ones), so the Discover page and the CLI never relabel by
hand. "Not this person" is moving one face out on its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.clustering.matching import PersonMatcher
from engine.clustering.results import Clustering, summarise


def merge_clusters(
    clustering: Clustering,
    embeddings: np.ndarray,
    keep: int,
    absorb: int,
    matcher: PersonMatcher | None = None,
) -> Clustering:
    """The faces labelled ``absorb`` join cluster ``keep`` (labels, as in ``Cluster.label``)."""
    labels = clustering.labels.copy()
    for label in (keep, absorb):
        if not (labels == label).any():
            raise ValueError(f"there is no cluster {label} in this clustering")
    labels[labels == absorb] = keep
    return _resummarised(clustering, embeddings, labels, matcher)


def move_out(
    clustering: Clustering,
    embeddings: np.ndarray,
    rows: Iterable[int],
    *,
    together: bool = False,
    matcher: PersonMatcher | None = None,
) -> Clustering:
    """Faces ``rows`` leave their clusters: each on its own ("not this person"), or, with
    ``together``, as one new cluster (splitting a cluster in two)."""
    moved = sorted(set(int(r) for r in rows))
    if any(r < 0 or r >= clustering.faces for r in moved):
        raise ValueError("a face to move is not in this clustering")
    labels = clustering.labels.copy()
    fresh = int(labels.max()) + 1 if len(labels) else 0
    for i, row in enumerate(moved):
        labels[row] = fresh if together else fresh + i
    return _resummarised(clustering, embeddings, labels, matcher)


def _resummarised(
    clustering: Clustering,
    embeddings: np.ndarray,
    labels: np.ndarray,
    matcher: PersonMatcher | None,
) -> Clustering:
    x = np.asarray(embeddings, np.float32)
    if len(x) != clustering.faces:
        raise ValueError("embeddings must be those of the clustering's faces")
    return summarise(labels, x, clustering.face_ids, clustering.options, matcher)
