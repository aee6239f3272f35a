"""bench.lfw's scoring: the View 2 (10-fold) and View 1 (train/test) protocols."""

from __future__ import annotations

import numpy as np
import pytest

from bench.lfw import score
from engine.evaluation.pairs_file import Pair


def _pairs(n_folds: int, per_fold: int) -> list[Pair]:
    return [
        Pair(f"a{f}_{i}", f"b{f}_{i}", same=i % 2 == 0, fold=f)
        for f in range(n_folds)
        for i in range(per_fold)
    ]


def test_view2_scores_each_fold_with_the_others_threshold():
    rng = np.random.default_rng(0)
    pairs = _pairs(10, 60)
    same = np.array([p.same for p in pairs])
    distances = np.where(same, rng.normal(0.4, 0.08, len(pairs)), rng.normal(0.8, 0.08, len(pairs)))
    result = score(distances, pairs, None, [])
    assert result["protocol"].startswith("10-fold")
    assert 0.5 < result["threshold"] < 0.7
    assert result["accuracy"] > 0.98 and result["roc_auc"] > 0.99
    assert result["tar_at_far_0.01"]["impostor_pairs"] == 300
    assert not result["tar_at_far_0.001"]["measurable"]


def test_view1_takes_the_threshold_from_the_train_pairs():
    test_pairs, train_pairs = _pairs(1, 4), _pairs(1, 4)
    test_d = np.array([0.3, 0.9, 0.55, 0.7])  # genuine, impostor, genuine, impostor
    train_d = np.array([0.1, 0.5, 0.2, 0.6])  # separable at 0.35
    result = score(test_d, test_pairs, train_d, train_pairs)
    assert result["threshold"] == pytest.approx(0.35)
    assert result["accuracy"] == pytest.approx(0.75)  # 0.55 genuine pair rejected
    assert result["train_accuracy"] == 1.0
