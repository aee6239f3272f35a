"""Clusters named after enrolled people by the open-set rule, from plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from engine.clustering import ClusterOptions, PersonMatcher, cluster_embeddings
from tests.clustering.synthetic import blobs


def gallery():
    x, truth = blobs(people=3, per_person=5, seed=11)
    # Alice is person 0, Bob person 1 (two enrolled faces each); person 2 is nobody's.
    enrolled = np.concatenate([x[0:2], x[5:7]])
    names = ["Alice", "Alice", "Bob", "Bob"]
    return x, truth, enrolled, names


def test_clusters_match_enrolled_people_and_strangers_match_no_one():
    x, truth, enrolled, names = gallery()
    matcher = PersonMatcher.from_arrays(enrolled, names, threshold=0.5)
    clustering = cluster_embeddings(x[truth >= 0], matcher=matcher)
    by_first = {c.members[0]: c.person for c in clustering.clusters}
    assert by_first[0].name == "Alice" and by_first[5].name == "Bob"
    assert by_first[10] is None
    assert by_first[0].votes == 5 and by_first[0].distance <= 0.5


def test_the_threshold_decides():
    x, _, enrolled, names = gallery()
    strict = PersonMatcher.from_arrays(enrolled, names, threshold=0.01)
    assert strict.match(x[2:5]) is None
    loose = PersonMatcher.from_arrays(enrolled, names, threshold=0.5)
    assert loose.match(x[2:5]).name == "Alice"


def test_one_odd_face_does_not_change_the_match():
    x, _, enrolled, names = gallery()
    cluster = np.concatenate([x[2:5], x[12:13]])  # three of Alice and one stranger
    match = PersonMatcher.from_arrays(enrolled, names, threshold=0.5).match(cluster)
    assert match.name == "Alice" and match.votes == 3


def test_empty_gallery_matches_nothing_and_names_must_fit():
    x, _ = blobs(1, 3)
    empty = PersonMatcher.from_arrays(np.zeros((0, 128), np.float32), [], threshold=0.5)
    assert empty.match(x) is None
    assert cluster_embeddings(x, options=ClusterOptions(), matcher=empty).clusters[0].person is None
    with pytest.raises(ValueError):
        PersonMatcher.from_arrays(x, ["one"], threshold=0.5)


def test_match_is_in_the_json():
    x, _, enrolled, names = gallery()
    matcher = PersonMatcher.from_arrays(enrolled, names, threshold=0.5)
    data = cluster_embeddings(x, matcher=matcher).as_dict()
    people = [c["person"]["name"] if c["person"] else None for c in data["clusters"]]
    assert sorted(people, key=str) == ["Alice", "Bob", None]
