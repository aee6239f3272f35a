"""New faces join an existing clustering: the same partition as clustering all at once."""

from __future__ import annotations

import numpy as np
import pytest

from engine.clustering import (
    ClusteringCancelled,
    ClusterOptions,
    cluster_embeddings,
    extend_clustering,
)
from tests.clustering.synthetic import blobs, partition, unit


def split(seed: int = 0):
    """Eight people; the first clustering sees half the photos of people 0–5 (and none of 6
    and 7); the rest come later, shuffled."""
    x, truth = blobs(people=8, per_person=6, seed=seed)
    first = np.array([i for i in range(len(x)) if truth[i] < 6 and i % 6 < 3])
    later = np.setdiff1d(np.arange(len(x)), first)
    later = np.random.default_rng(seed).permutation(later)
    return x, truth, first, later


def test_incremental_equals_batch():
    x, truth, first, later = split()
    options = ClusterOptions(seed=1)
    before = cluster_embeddings(x[first], options=options)
    after = extend_clustering(before, x[first], x[later])
    order = np.concatenate([first, later])
    batch = cluster_embeddings(x[order], options=options)
    assert partition(after.labels) == partition(batch.labels) == partition(truth[order])


def test_existing_clusters_keep_their_labels_and_new_people_get_new_ones():
    x, truth, first, later = split(seed=3)
    before = cluster_embeddings(x[first])
    after = extend_clustering(before, x[first], x[later])
    assert np.array_equal(after.labels[: len(first)], before.labels)
    new_people = truth[later] >= 6
    assert set(after.labels[len(first) :][new_people]).isdisjoint(set(before.labels))


def test_a_new_face_near_only_another_new_face_follows_it_in():
    x, _ = blobs(people=1, per_person=2, seed=0)
    direction = unit(np.random.default_rng(1), 1)[0].astype(np.float32)
    near = x[1] + 0.4 * direction  # within 0.5 of face 1, over 0.5 from face 0 (likely)
    farther = near + 0.4 * direction  # within 0.5 of ``near`` only
    before = cluster_embeddings(x, options=ClusterOptions(threshold=0.5))
    after = extend_clustering(before, x, np.stack([farther, near]))
    assert len(set(after.labels.tolist())) == 1


def test_deterministic_and_ids_follow():
    x, _, first, later = split(seed=5)
    before = cluster_embeddings(x[first], [f"old{i}" for i in range(len(first))])
    ids = [f"new{i}" for i in range(len(later))]
    one = extend_clustering(before, x[first], x[later], ids)
    two = extend_clustering(before, x[first], x[later], ids)
    assert np.array_equal(one.labels, two.labels)
    assert one.face_ids[-1] == ids[-1] and one.face_ids[0] == "old0"


def test_adding_to_an_empty_clustering_clusters_the_new_faces():
    x, truth = blobs(people=3, per_person=4)
    empty = cluster_embeddings(np.zeros((0, 128), np.float32))
    after = extend_clustering(empty, np.zeros((0, 128), np.float32), x)
    assert partition(after.labels) == partition(truth)


def test_cancel_leaves_the_previous_clustering():
    x, _, first, later = split()
    before = cluster_embeddings(x[first])
    with pytest.raises(ClusteringCancelled):
        extend_clustering(before, x[first], x[later], should_stop=lambda: True)
    assert before.faces == len(first)


def test_wrong_previous_embeddings_are_refused():
    x, _, first, later = split()
    before = cluster_embeddings(x[first])
    with pytest.raises(ValueError):
        extend_clustering(before, x[first][:-1], x[later])
