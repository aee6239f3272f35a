"""BCubed and pairwise scores against a hand computation."""

from __future__ import annotations

import pytest

from engine.clustering.metrics import cluster_scores

# Faces 1..6: clusters {1,2,3} {4,5} {6}; people a = {1,2}, b = {3,4,5}, c = {6}.
PREDICTED = [0, 0, 0, 1, 1, 2]
TRUTH = ["a", "a", "b", "b", "b", "c"]


def test_bcubed_by_hand():
    s = cluster_scores(PREDICTED, TRUTH)
    # precision per face: 2/3, 2/3, 1/3, 1, 1, 1 → 14/18; recall: 1, 1, 1/3, 2/3, 2/3, 1 → 14/18
    assert s.bcubed_precision == pytest.approx(7 / 9)
    assert s.bcubed_recall == pytest.approx(7 / 9)
    assert s.bcubed_f == pytest.approx(7 / 9)


def test_pairwise_by_hand():
    s = cluster_scores(PREDICTED, TRUTH)
    # together: 3 + 1 = 4 pairs; same person: 1 + 3 = 4; both: (1,2) and (4,5)
    assert s.pairwise_precision == pytest.approx(0.5)
    assert s.pairwise_recall == pytest.approx(0.5)
    assert s.pairwise_f == pytest.approx(0.5)
    assert (s.clusters, s.clusters_of_two_or_more, s.people, s.faces) == (3, 2, 3, 6)


def test_perfect_and_all_singletons():
    perfect = cluster_scores(["x", "x", "y"], [1, 1, 2])
    assert perfect.bcubed_f == 1.0 and perfect.pairwise_f == 1.0
    apart = cluster_scores([0, 1, 2, 3], ["a", "a", "b", "b"])
    assert apart.bcubed_precision == 1.0 and apart.bcubed_recall == pytest.approx(0.5)
    assert apart.pairwise_precision == 1.0 and apart.pairwise_recall == 0.0
    assert apart.pairwise_f == 0.0


def test_everything_in_one_cluster():
    s = cluster_scores([0, 0, 0, 0], ["a", "a", "b", "b"])
    assert s.bcubed_precision == pytest.approx(0.5) and s.bcubed_recall == 1.0
    assert s.pairwise_precision == pytest.approx(2 / 6)


def test_empty_and_mismatched():
    assert cluster_scores([], []).faces == 0
    with pytest.raises(ValueError):
        cluster_scores([0], [])
