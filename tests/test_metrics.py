"""Verification metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.metrics import (
    accuracy_at,
    best_threshold,
    equal_error_rate,
    kfold_accuracy,
    roc_auc,
    tar_at_far,
)
from engine.evaluation.pairs import PairsFileError, read_pairs

# Genuine pairs at small distances, impostors at large ones, one overlap each way.
D = np.array([0.1, 0.2, 0.3, 0.7, 0.5, 0.8, 0.9, 0.25])
SAME = np.array([True, True, True, True, False, False, False, False])


def test_accuracy_at_counts_accepts_at_or_below_threshold():
    # Threshold 0.35: genuine 0.1 0.2 0.3 accepted, 0.7 rejected; impostor 0.25 accepted.
    assert accuracy_at(D, SAME, 0.35) == pytest.approx(6 / 8)


def test_best_threshold_maximises_accuracy():
    t = best_threshold(D, SAME)
    assert accuracy_at(D, SAME, t) == pytest.approx(6 / 8)
    separable = np.array([0.1, 0.2, 0.8, 0.9])
    t = best_threshold(separable, np.array([True, True, False, False]))
    assert t == pytest.approx(0.5)


def test_auc_of_separable_and_of_inverted_scores():
    labels = np.array([True, True, False, False])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    # Of 16 genuine×impostor orderings, 3 are wrong: 0.3 vs 0.25, 0.7 vs 0.5, 0.7 vs 0.25.
    assert roc_auc(D, SAME) == pytest.approx(13 / 16)


def test_eer_is_where_far_equals_frr():
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.4, 0.1, 20000)
    impostor = rng.normal(0.8, 0.1, 20000)
    d = np.concatenate([genuine, impostor])
    s = np.concatenate([np.ones(20000, bool), np.zeros(20000, bool)])
    eer, threshold = equal_error_rate(d, s)
    # Symmetric Gaussians: crossing at 0.6, EER = P(N(0,1) > 2) ≈ 0.02275.
    assert threshold == pytest.approx(0.6, abs=0.01)
    assert eer == pytest.approx(0.02275, abs=0.003)


def test_tar_at_far_never_exceeds_the_target_and_flags_thin_evidence():
    result = tar_at_far(D, SAME, 0.25)  # 1 of 4 impostors may be accepted
    assert result.achieved_far <= 0.25
    # Only the impostor at 0.25 may pass, so the threshold stays under 0.5: 3 of 4 genuine.
    assert result.tar == pytest.approx(0.75)
    assert 0.3 <= result.threshold < 0.5
    assert result.impostor_pairs == 4 and result.measurable
    thin = tar_at_far(D, SAME, 1e-3)
    assert not thin.measurable and thin.achieved_far == 0.0


def test_kfold_uses_threshold_from_other_folds():
    d = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    s = np.array([True, False, True, False, True, False])
    accuracies, thresholds = kfold_accuracy(d, s, np.array([0, 0, 1, 1, 2, 2]))
    assert accuracies == [1.0, 1.0, 1.0] and len(thresholds) == 3


def test_read_pairs_view1_and_view2(tmp_path):
    v1 = tmp_path / "v1.txt"
    v1.write_text("1\nAl_Gore\t1\t2\nAl_Gore\t1\tBo_Li\t3\n")
    pairs = read_pairs(v1)
    assert [p.same for p in pairs] == [True, False]
    assert pairs[0].image_a == "Al_Gore/Al_Gore_0001.jpg"
    assert pairs[1].image_b == "Bo_Li/Bo_Li_0003.jpg"
    v2 = tmp_path / "v2.txt"
    v2.write_text("2 1\nA 1 2\nA 1 B 1\nC 1 2\nC 2 D 1\n")
    assert [p.fold for p in read_pairs(v2)] == [0, 0, 1, 1]


@pytest.mark.parametrize(
    "text", ["", "x\n", "2\nA 1 2\nA 1 B 1\n", "1\nA one 2\nA 1 B 1\n", "1\nA 1\nA 1 B 1\n"]
)
def test_read_pairs_rejects_malformed_files(tmp_path, text):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(PairsFileError):
        read_pairs(f)


def test_lfw_dev_pairs_parse(lfw_dir):
    train = read_pairs(lfw_dir / "pairsDevTrain.txt")
    test = read_pairs(lfw_dir / "pairsDevTest.txt")
    assert len(train) == 2200 and sum(p.same for p in train) == 1100
    assert len(test) == 1000 and all((lfw_dir / p.image_a).is_file() for p in test[:50])
