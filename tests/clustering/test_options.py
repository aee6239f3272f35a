"""The threshold a collection is clustered at: open-set scaling, capped at dlib's 0.5."""

from __future__ import annotations

import pytest

from engine.clustering.options import DEFAULT_THRESHOLD, STRANGERS_NEAR, collection_threshold
from engine.open_set import open_set_threshold


def test_small_collections_use_dlibs_threshold():
    for faces in (0, 1, 2, 50, 400):
        assert collection_threshold(faces, "dlib-resnet-v1").value == DEFAULT_THRESHOLD


def test_the_threshold_falls_as_the_collection_grows():
    values = [collection_threshold(n, "dlib-resnet-v1").value for n in (1000, 4000, 13233)]
    assert values == sorted(values, reverse=True) and values[0] < DEFAULT_THRESHOLD
    expected = open_set_threshold("dlib-resnet-v1", 13232, STRANGERS_NEAR).value
    assert values[-1] == pytest.approx(expected)
    assert 0.40 < values[-1] < 0.44  # where LFW's impostor table puts F ≈ 0.2 / 13,232


def test_a_model_without_an_impostor_table_gets_the_fixed_threshold():
    threshold = collection_threshold(10_000, "someone-elses-model")
    assert threshold.value == DEFAULT_THRESHOLD
    assert "no impostor distribution is known" in threshold.source
