"""Merging clusters and moving faces out, as the Discover page will."""

from __future__ import annotations

import pytest

from engine.clustering import PersonMatcher, cluster_embeddings
from engine.clustering.edits import merge_clusters, move_out
from tests.clustering.synthetic import blobs


@pytest.fixture
def three():
    x, _ = blobs(people=3, per_person=4, seed=2)
    return x, cluster_embeddings(x)


def test_merge_two_clusters(three):
    x, clustering = three
    a, b = clustering.clusters[0].label, clustering.clusters[1].label
    merged = merge_clusters(clustering, x, a, b)
    assert [c.size for c in merged.clusters] == [8, 4]
    assert merged.clusters[0].label == a
    assert merged.clusters[0].spread > clustering.clusters[0].spread  # two people: looser
    with pytest.raises(ValueError, match="no cluster 99"):
        merge_clusters(clustering, x, a, 99)


def test_not_this_person_and_split(three):
    x, clustering = three
    first = clustering.clusters[0]
    alone = move_out(clustering, x, [first.members[0]])
    assert [c.size for c in alone.clusters] == [4, 4, 3]
    assert [s.members for s in alone.singletons] == [(first.members[0],)]
    split = move_out(clustering, x, first.members[:2], together=True)
    assert sorted(c.size for c in split.clusters) == [2, 2, 4, 4]
    untouched = {c.label for c in clustering.clusters[1:]}
    assert untouched <= {c.label for c in split.clusters}


def test_edits_recompute_the_enrolled_person(three):
    x, clustering = three
    first = clustering.clusters[0]
    matcher = PersonMatcher.from_arrays(x[list(first.members[:1])], ["Ada"], threshold=0.5)
    moved = move_out(clustering, x, first.members, together=True, matcher=matcher)
    named = [c for c in moved.clusters if c.person is not None]
    assert len(named) == 1 and named[0].members == first.members
    with pytest.raises(ValueError):
        move_out(clustering, x, [len(x)])
    with pytest.raises(ValueError):
        merge_clusters(clustering, x[:-1], 0, 1)
