"""The exact k-NN graph against a brute-force answer, and its threshold edges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from engine.clustering import ClusteringCancelled, neighbours
from engine.clustering.neighbours import knn_graph, nearest


def test_knn_graph_equals_brute_force_across_blocks(monkeypatch):
    monkeypatch.setattr(neighbours, "BLOCK_ROWS", 7)  # several blocks, a ragged last one
    x = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    graph = knn_graph(x, k=5)
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_array_equal(graph.indices, np.argsort(d, axis=1)[:, :5])
    np.testing.assert_allclose(graph.distances, np.sort(d, axis=1)[:, :5], atol=1e-5)


def test_fewer_faces_than_k_are_padded():
    graph = knn_graph(np.eye(3, dtype=np.float32), k=4)
    assert graph.indices.shape == (3, 4)
    assert (graph.indices[:, 2:] == -1).all() and np.isinf(graph.distances[:, 2:]).all()
    assert set(graph.indices[0, :2]) == {1, 2}


def test_empty_and_single_face():
    assert knn_graph(np.zeros((0, 8), np.float32), k=3).size == 0
    one = knn_graph(np.ones((1, 8), np.float32), k=3)
    assert (one.indices == -1).all()
    assert one.edges(0.5).nnz == 0


def test_ties_are_broken_by_row_number():
    x = np.array([[0.0], [1.0], [-1.0], [1.0]], np.float32)  # rows 1, 2, 3 all at 1 from row 0
    graph = knn_graph(x, k=3)
    assert graph.indices[0].tolist() == [1, 2, 3]


def test_edges_are_symmetric_and_keep_the_threshold_inclusive():
    x = np.array([[0.0], [0.5], [2.0]], np.float32)
    edges = knn_graph(x, k=1).edges(0.5)  # row 1's nearest is row 0; row 2's is row 1 (1.5)
    dense = edges.toarray()
    assert dense[0, 1] == pytest.approx(0.5) and dense[1, 0] == pytest.approx(0.5)
    assert dense[1, 2] == 0 and dense[2, 1] == 0


def test_duplicate_faces_keep_their_zero_length_edge():
    x = np.array([[0.3, 0.1], [0.3, 0.1]], np.float32)
    assert knn_graph(x, k=1).edges(0.5).nnz == 2


def test_nearest_against_another_set():
    base = np.array([[0.0, 0.0], [10.0, 0.0]], np.float32)
    found = nearest(np.array([[9.0, 0.0]], np.float32), base, k=1)
    assert found.indices[0, 0] == 1 and found.distances[0, 0] == pytest.approx(1.0)


def test_should_stop_cancels_between_blocks(monkeypatch):
    monkeypatch.setattr(neighbours, "BLOCK_ROWS", 10)
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(ClusteringCancelled):
        knn_graph(np.random.default_rng(1).normal(size=(100, 4)), k=3, should_stop=stop)
    assert len(asked) == 3
