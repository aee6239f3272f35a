"""The clustering methods, by name: each turns embeddings and their k-NN graph into labels.

``bench.cluster --compare`` measures them side by side on LFW. Best BCubed F of each over
thresholds 0.40–0.55 on 4,000 LFW images (1,498 people): chinese-whispers 0.955, its unit-weight
form 0.954, average 0.942, components 0.945, hdbscan 0.938 — so ``DEFAULT_METHOD`` is Chinese
Whispers, also the fastest after components. Every method here works on the sparse k-NN graph,
so none needs N² memory:

* ``chinese-whispers`` — Biemann 2006, dlib's method (``engine.clustering.chinese_whispers``),
  on edges at or below the threshold, each edge weighted by ``similarity_weight`` (dlib weighs
  every edge 1: ``chinese-whispers-unit``).
* ``components`` — connected components of the threshold graph (single linkage cut at the
  threshold; ``scipy.sparse.csgraph``): one chain of close faces joins two people.
* ``average`` — scikit-learn's agglomerative clustering, average linkage (UPGMA; Sokal &
  Michener 1958) with the k-NN graph as connectivity, cut at the threshold. (Complete linkage
  was measured too and dropped: 0.90 BCubed F at best on 4,000 LFW images.)
* ``hdbscan`` — scikit-learn's HDBSCAN (Campello, Moulavi & Sander 2013) on the sparse k-NN
  distances; its noise points are singletons. It takes no threshold (the one given is
  ignored): its clusters are the most stable ones of the density hierarchy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from engine.clustering.chinese_whispers import chinese_whispers
from engine.clustering.errors import UnknownMethod
from engine.clustering.neighbours import NeighbourGraph

ShouldStop = Callable[[], bool] | None


@dataclass(frozen=True)
class MethodInput:
    """What a method gets: the faces, their k-NN graph and the options that matter to it."""

    embeddings: np.ndarray
    graph: NeighbourGraph
    threshold: float
    seed: int = 0
    should_stop: ShouldStop = None


Method = Callable[[MethodInput], np.ndarray]
"""A method returns one label per face; equal labels are one cluster."""


def similarity_weight(distances: np.ndarray, threshold: float) -> np.ndarray:
    """Edge weight for Chinese Whispers: 1 for identical faces, falling linearly to 0.5 at
    the threshold, so a close neighbour outvotes a borderline one (dlib weighs both 1)."""
    return 1.0 - 0.5 * np.asarray(distances) / threshold


def _chinese_whispers(job: MethodInput, weighted: bool) -> np.ndarray:
    edges = job.graph.edges(job.threshold)
    if weighted:  # no self-vote: it would outweigh every neighbour (all weigh under 1)
        edges.data = similarity_weight(edges.data, job.threshold)
        self_weight = 0.0
    else:
        edges.data = np.ones_like(edges.data)
        self_weight = 1.0
    return chinese_whispers(
        edges, seed=job.seed, self_weight=self_weight, should_stop=job.should_stop
    )


def _components(job: MethodInput) -> np.ndarray:
    _, labels = connected_components(job.graph.edges(job.threshold), directed=False)
    return labels.astype(np.int64)


def _average(job: MethodInput) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    n = len(job.embeddings)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    g = job.graph
    keep = g.indices >= 0
    rows = np.repeat(np.arange(n), g.k)[keep.ravel()]
    connectivity = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (rows, g.indices[keep])), shape=(n, n)
    )
    model = AgglomerativeClustering(
        n_clusters=None,
        distance_threshold=job.threshold,
        linkage="average",
        connectivity=connectivity.maximum(connectivity.T),
    )
    with warnings.catch_warnings():  # a k-NN graph in several pieces is completed by sklearn
        warnings.simplefilter("ignore", UserWarning)
        return model.fit_predict(np.asarray(job.embeddings, np.float64)).astype(np.int64)


def _hdbscan(job: MethodInput) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    n = len(job.embeddings)
    if n < 3:
        return np.arange(n, dtype=np.int64)
    g = job.graph
    keep = g.indices >= 0
    rows = np.repeat(np.arange(n), g.k)[keep.ravel()]
    values = np.maximum(g.distances[keep].astype(np.float64), 1e-12)
    distances = sparse.csr_matrix((values, (rows, g.indices[keep])), shape=(n, n))
    model = HDBSCAN(
        metric="precomputed",
        min_cluster_size=2,
        min_samples=2,  # measured on LFW: 1 and 3 do worse, "leaf" selection far worse
        copy=True,
    )
    labels = model.fit_predict(distances.maximum(distances.T)).astype(np.int64)
    noise = labels < 0
    labels[noise] = labels.max() + 1 + np.arange(int(noise.sum()))
    return labels


METHODS: dict[str, Method] = {
    "chinese-whispers": lambda job: _chinese_whispers(job, weighted=True),
    "chinese-whispers-unit": lambda job: _chinese_whispers(job, weighted=False),
    "components": _components,
    "average": _average,
    "hdbscan": _hdbscan,
}

THRESHOLD_FREE = frozenset({"hdbscan"})
"""Methods that ignore the threshold."""

DEFAULT_METHOD = "chinese-whispers"


def get_method(name: str) -> Method:
    """The method called ``name``; ``UnknownMethod`` (a sentence) for any other name."""
    try:
        return METHODS[name]
    except KeyError:
        known = ", ".join(sorted(METHODS))
        raise UnknownMethod(f"no clustering method is called {name!r}; known: {known}") from None
