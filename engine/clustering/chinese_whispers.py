"""Chinese Whispers: label propagation on a weighted graph (Biemann 2006), dlib's method.

C. Biemann, "Chinese Whispers — an Efficient Graph Clustering Algorithm and its Application to
Natural Language Processing Problems", TextGraphs workshop, 2006. Every node starts in its own
class; in rounds, visiting the nodes in random order, each node takes the class with the
largest total edge weight among its neighbours (itself included, as dlib's
``chinese_whispers_clustering`` includes each face's edge to itself). It stops when a round
changes nothing.

Written here rather than called from dlib: dlib is a test-time reference only (never needed at
run time), its version draws 100 · N single-node updates from an unseeded global generator, and
it takes all N² pairs. Ours takes the sparse k-NN graph, is seeded, and updates a round's nodes
in ``CHUNKS`` slices of the random order, each slice at once from the labels so far (vectorised
with numpy; a slice of 1/32 of the nodes rarely holds two neighbours, so this behaves as the
one-at-a-time original while costing a few array operations per slice).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse

from engine.clustering.errors import ClusteringCancelled

CHUNKS = 32
"""Slices per round: the nodes of one slice are updated together."""
MAX_ROUNDS = 100
"""dlib runs 100 · N single-node updates, i.e. 100 rounds' worth; ours stops earlier once a
round changes nothing (LFW: about 10 rounds)."""


def chinese_whispers(
    weights: sparse.csr_matrix,
    *,
    seed: int = 0,
    self_weight: float = 1.0,
    max_rounds: int = MAX_ROUNDS,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Class per node (int64, 0..c−1 in order of first appearance) of a symmetric graph.

    ``weights[i, j] > 0`` is the weight of edge i–j. ``self_weight`` is each node's vote for
    its own current class (dlib: 1, the same as an edge). Deterministic for a ``seed``; ties
    go to the smaller class number. ``should_stop()`` is asked between rounds
    (``ClusteringCancelled``).
    """
    n = weights.shape[0]
    labels = np.arange(n, dtype=np.int64)
    if n == 0:
        return labels
    graph = sparse.csr_matrix(weights)
    graph.sum_duplicates()
    rng = np.random.default_rng(seed)
    chunk = max(1, -(-n // CHUNKS))
    for _ in range(max_rounds):
        if should_stop is not None and should_stop():
            raise ClusteringCancelled("the clustering was stopped; nothing was changed")
        order = rng.permutation(n)
        changed = 0
        for start in range(0, n, chunk):
            nodes = order[start : start + chunk]
            best = _strongest_labels(graph, labels, nodes, self_weight)
            changed += int((best != labels[nodes]).sum())
            labels[nodes] = best
        if changed == 0:
            break
    return _renumbered(labels)


def _strongest_labels(
    graph: sparse.csr_matrix, labels: np.ndarray, nodes: np.ndarray, self_weight: float
) -> np.ndarray:
    """For each of ``nodes``, the label with the largest summed weight among its neighbours
    and itself; the smaller label on a tie."""
    rows = graph[nodes]
    counts = np.diff(rows.indptr)
    owner = np.concatenate([np.repeat(np.arange(len(nodes)), counts), np.arange(len(nodes))])
    label = np.concatenate([labels[rows.indices], labels[nodes]])
    weight = np.concatenate([rows.data, np.full(len(nodes), self_weight)])
    n_labels = int(labels.max()) + 1
    keys, inverse = np.unique(owner * n_labels + label, return_inverse=True)
    totals = np.bincount(inverse, weights=weight)
    key_owner, key_label = keys // n_labels, keys % n_labels
    order = np.lexsort((key_label, -totals, key_owner))  # per node: heaviest, then smallest
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_owner[order][1:] != key_owner[order][:-1]
    best = np.empty(len(nodes), dtype=np.int64)
    best[key_owner[order][first]] = key_label[order][first]
    return best


def _renumbered(labels: np.ndarray) -> np.ndarray:
    """Labels 0..c−1 in order of first appearance (so equal partitions give equal arrays)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]
