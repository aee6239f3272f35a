"""Clustering constructed embeddings with known answers: every method, then the default's
guarantees (chain, noise, determinism, edge cases, thousands of faces, cancel)."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from engine.clustering import (
    ClusteringCancelled,
    ClusterOptions,
    InvalidClusterOptions,
    UnknownMethod,
    cluster_embeddings,
    cluster_labels,
)
from engine.clustering.methods import DEFAULT_METHOD, METHODS
from tests.clustering.synthetic import blobs, chain, partition, unit


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_finds_separable_people(method):
    x, truth = blobs(people=6, per_person=8)
    labels = cluster_labels(x, ClusterOptions(method=method, threshold=0.5, k=10))
    assert partition(labels) == partition(truth)


def test_single_linkage_merges_the_chain_and_the_default_does_not():
    x, truth = chain()
    merged = cluster_labels(x, ClusterOptions(method="components", threshold=0.5))
    assert len(set(merged)) == 1
    labels = cluster_labels(x, ClusterOptions(threshold=0.5))
    a, b = set(labels[truth == 0]), set(labels[truth == 1])
    assert len(a) == 1 and len(b) == 1 and a != b


def test_noise_faces_stay_singletons():
    x, _ = blobs(people=3, per_person=10)
    noise = (2.0 * unit(np.random.default_rng(9), 5)).astype(np.float32)  # far from all
    clustering = cluster_embeddings(np.concatenate([x, noise]))
    assert [c.size for c in clustering.clusters] == [10, 10, 10]
    assert [c.members for c in clustering.singletons] == [(30,), (31,), (32,), (33,), (34,)]


def test_clusters_are_sorted_by_size_with_ids_and_spread():
    sizes = [3, 9, 5]
    parts = [blobs(1, s, seed=i)[0] for i, s in enumerate(sizes)]
    ids = [f"photo{i}.jpg#0" for i in range(sum(sizes))]
    clustering = cluster_embeddings(np.concatenate(parts), ids)
    assert [c.size for c in clustering.clusters] == [9, 5, 3]
    big = clustering.clusters[0]
    assert big.face_ids == tuple(ids[3:12])
    x = np.concatenate(parts)[3:12].astype(np.float64)
    pairs = [np.linalg.norm(x[i] - x[j]) for i in range(9) for j in range(9) if i != j]
    assert big.spread == pytest.approx(np.sqrt(np.mean(np.square(pairs))), rel=1e-5)


def test_min_size_moves_small_groups_to_singletons():
    x = np.concatenate([blobs(1, 5, seed=0)[0], blobs(1, 2, seed=1)[0]])
    clustering = cluster_embeddings(x, options=ClusterOptions(min_size=3))
    assert [c.size for c in clustering.clusters] == [5]
    assert [c.size for c in clustering.singletons] == [2]


def test_deterministic_for_a_seed():
    x, _ = blobs(people=40, per_person=6, seed=4)
    x = x + np.random.default_rng(5).normal(scale=0.03, size=x.shape).astype(np.float32)
    options = ClusterOptions(seed=7, threshold=0.55)
    assert np.array_equal(cluster_labels(x, options), cluster_labels(x, options))


def test_no_faces_and_one_face():
    empty = cluster_embeddings(np.zeros((0, 128), np.float32))
    assert empty.clusters == () and empty.singletons == () and empty.faces == 0
    one = cluster_embeddings(np.ones((1, 128), np.float32), ["only.jpg#0"])
    assert one.clusters == () and one.singletons[0].face_ids == ("only.jpg#0",)
    assert one.as_dict()["singletons"][0]["faces"] == ["only.jpg#0"]


def test_five_thousand_faces_in_seconds_without_n_squared_memory():
    x, truth = blobs(people=500, per_person=10, seed=2)
    tracemalloc.start()
    started = time.perf_counter()
    labels = cluster_labels(x, ClusterOptions())
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert partition(labels) == partition(truth)
    assert seconds < 15  # about 1 s on 2 idle cores
    # N² float32 distances would be 100 MB; numpy's peak (graph, edges) is a few MB. (The
    # torch block, 1,024 × N, is not traced: 20 MB.)
    assert peak < 30e6


def test_cancel_raises():
    x, _ = blobs(people=3, per_person=4)
    with pytest.raises(ClusteringCancelled):
        cluster_embeddings(x, should_stop=lambda: True)


def test_progress_reaches_the_total():
    seen = []
    cluster_embeddings(blobs(2, 3)[0], progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)


def test_bad_options_are_sentences():
    with pytest.raises(UnknownMethod, match="no clustering method is called 'kmeans'"):
        ClusterOptions(method="kmeans")
    with pytest.raises(InvalidClusterOptions):
        ClusterOptions(threshold=0)
    with pytest.raises(InvalidClusterOptions):
        ClusterOptions(min_size=0)
    assert ClusterOptions().method == DEFAULT_METHOD
