"""Scores that point either way measure the same, and the operating point saved from them
round-trips to Verify's default threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import Settings
from engine.evaluation.operating_point import (
    operating_point,
    read_operating_point,
    save_operating_point,
)
from engine.evaluation.scoring import PairScores, evaluate
from engine.permissions import OPERATOR
from engine.verification import default_threshold

MODEL = "dlib-resnet-v1"


def test_scores_point_either_way_and_the_operating_point_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    same = np.r_[np.ones(500, bool), np.zeros(2000, bool)]
    d = np.where(same, rng.normal(0.4, 0.08, len(same)), rng.normal(0.8, 0.08, len(same)))
    distances = PairScores(d, same, np.zeros(len(same)), "distance", higher_is_same=False)
    similarity = PairScores(1 - d, same, np.zeros(len(same)), "head", higher_is_same=True)
    for scores, sign in ((distances, 1), (similarity, -1)):
        report = evaluate(scores)
        assert report.roc_auc == pytest.approx(evaluate(distances).roc_auc)
        assert report.eer == pytest.approx(evaluate(distances).eer)
        # Thresholds come back in each scorer's own units: 1 − t for the similarity.
        t = report.eer_threshold
        assert (t if sign == 1 else 1 - t) == pytest.approx(evaluate(distances).eer_threshold)
        assert scores.errors_at(t).far == pytest.approx(report.eer, abs=0.01)
    at_far = distances.tar_at_far(1e-2).threshold
    assert distances.errors_at(at_far).far <= 1e-2
    assert distances.errors_at(distances.equal_error_rate()[1]).frr == pytest.approx(
        evaluate(distances).eer, abs=0.01
    )
    point = operating_point(distances, at_far, model_id=MODEL, dataset="test", method="FAR 1e-2")
    with pytest.raises(ValueError, match="distance threshold"):
        operating_point(similarity, 0.5, model_id=MODEL, dataset="test", method="EER")
    path = save_operating_point(tmp_path, point, actor=OPERATOR)
    assert json.loads(path.read_text())["threshold"] == pytest.approx(at_far)
    assert read_operating_point(tmp_path) == point
    settings = Settings.from_env()
    settings = type(settings)(**{**settings.__dict__, "data_dir": tmp_path})
    threshold = default_threshold(settings, MODEL)
    assert threshold.value == pytest.approx(at_far)
    assert "saved operating point" in threshold.source and "test" in threshold.source
