"""Our Chinese Whispers (Biemann 2006) on small graphs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from engine.clustering import ClusteringCancelled
from engine.clustering.chinese_whispers import chinese_whispers


def graph(n: int, edges: list[tuple[int, int]], weight: float = 1.0) -> sparse.csr_matrix:
    rows, cols = zip(*edges, strict=True)
    m = sparse.csr_matrix((np.full(len(edges), weight), (rows, cols)), shape=(n, n))
    return m.maximum(m.T).tocsr()


def cliques(sizes: list[int]) -> tuple[list[tuple[int, int]], int]:
    edges, start = [], 0
    for size in sizes:
        edges += [(start + i, start + j) for i in range(size) for j in range(i + 1, size)]
        start += size
    return edges, start


def test_two_cliques_and_an_isolated_node():
    edges, n = cliques([4, 3])
    labels = chinese_whispers(graph(n + 1, edges))
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 2]


def test_a_weak_bridge_does_not_merge_two_cliques():
    edges, n = cliques([5, 5])
    g = graph(n, edges).tolil()
    g[4, 5] = g[5, 4] = 0.1  # one light edge between the cliques
    labels = chinese_whispers(g.tocsr(), self_weight=0.0)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[9]


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    m = sparse.random(200, 200, density=0.03, random_state=1, data_rvs=rng.random)
    g = m.maximum(m.T).tocsr()
    first = chinese_whispers(g, seed=3)
    assert np.array_equal(first, chinese_whispers(g, seed=3))


def test_empty_graph():
    assert chinese_whispers(sparse.csr_matrix((0, 0))).size == 0
    assert chinese_whispers(sparse.csr_matrix((3, 3))).tolist() == [0, 1, 2]


def test_should_stop_cancels():
    edges, n = cliques([3])
    with pytest.raises(ClusteringCancelled):
        chinese_whispers(graph(n, edges), should_stop=lambda: True)
