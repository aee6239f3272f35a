"""Cluster a set of face embeddings in one go: k-NN graph → method → clusters.

    clustering = cluster_embeddings(embeddings, face_ids, ClusterOptions(threshold=0.5))

The steps are ``engine.clustering.neighbours`` (exact k-NN, O(N·k) memory),
``engine.clustering.methods`` (the method by name) and ``engine.clustering.results`` (clusters
largest first, singletons apart, spread, enrolled person). New faces join an existing
clustering with ``engine.clustering.incremental.extend_clustering`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.clustering.errors import ClusteringCancelled
from engine.clustering.matching import PersonMatcher
from engine.clustering.methods import MethodInput, get_method
from engine.clustering.neighbours import knn_graph
from engine.clustering.options import ClusterOptions
from engine.clustering.results import Clustering, summarise

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in faces: the neighbour search, then ``(n, n)`` once grouped."""


def cluster_labels(
    embeddings: np.ndarray,
    options: ClusterOptions,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """One label per face (equal labels: one cluster); deterministic for ``options.seed``."""
    x = np.asarray(embeddings, np.float32)
    if x.ndim != 2:
        raise ValueError("embeddings must be a (faces, dimensions) array")
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    graph = knn_graph(x, options.k, progress=progress, should_stop=should_stop)
    method = get_method(options.method)
    labels = method(MethodInput(x, graph, options.threshold, options.seed, should_stop))
    if should_stop is not None and should_stop():
        raise ClusteringCancelled("the clustering was stopped; nothing was changed")
    if progress is not None:
        progress(len(x), len(x))
    return np.asarray(labels, dtype=np.int64)


def cluster_embeddings(
    embeddings: np.ndarray,
    face_ids: Sequence[str] | None = None,
    options: ClusterOptions | None = None,
    *,
    matcher: PersonMatcher | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Clustering:
    """Cluster ``embeddings`` (one row per face; ``face_ids`` default to "0", "1", …).

    ``matcher``: name each cluster after the enrolled person it is, if any (open-set rule,
    ``engine.clustering.matching``). ``should_stop()`` is asked between steps and raises
    ``ClusteringCancelled``.
    """
    options = options or ClusterOptions()
    x = np.asarray(embeddings, np.float32)
    ids = tuple(face_ids) if face_ids is not None else tuple(str(i) for i in range(len(x)))
    if len(ids) != len(x):
        raise ValueError("face_ids must be one per embedding")
    labels = cluster_labels(x, options, progress=progress, should_stop=should_stop)
    return summarise(labels, x, ids, options, matcher)
