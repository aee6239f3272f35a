"""Verification and identification metrics against hand-computed values, constructed
distributions with known answers, and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.metrics import (
    accuracy_at,
    best_threshold,
    cmc,
    d_prime,
    det,
    dir_at_fpir,
    equal_error_rate,
    error_counts,
    kfold_accuracy,
    open_set_curve,
    roc,
    roc_auc,
    tar_at_far,
    tar_at_far_table,
    true_person_ranks,
)
from engine.evaluation.pairs_file import PairsFileError, read_pairs

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


# --- against scikit-learn on random scores ---------------------------------------------------
def _random_pairs(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.4
    # Overlapping genuine and impostor distances, with ties, as real scores have.
    d = np.where(same, rng.normal(0.45, 0.12, n), rng.normal(0.75, 0.12, n)).round(3)
    return d, same


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_and_auc_match_scikit_learn(seed):
    from sklearn.metrics import roc_auc_score, roc_curve

    d, same = _random_pairs(seed)
    curve = roc(d, same)
    fpr, tpr, thresholds = roc_curve(same, -d, drop_intermediate=False)
    np.testing.assert_allclose(curve.far, fpr)
    np.testing.assert_allclose(curve.tar, tpr)
    np.testing.assert_allclose(curve.thresholds[1:], -thresholds[1:])
    assert roc_auc(d, same) == pytest.approx(roc_auc_score(same, -d))
    # Every ROC point is what accepting d ≤ threshold actually does.
    for i in range(1, len(curve.thresholds), 37):
        counts = error_counts(d, same, curve.thresholds[i])
        assert counts.far == pytest.approx(curve.far[i])
        assert counts.tar == pytest.approx(curve.tar[i])


@pytest.mark.parametrize("seed", [0, 1])
def test_det_matches_scikit_learn_and_error_counts(seed):
    from sklearn.metrics import det_curve

    d, same = _random_pairs(seed)
    curve = det(d, same)
    fpr, fnr, _ = det_curve(same, -d)
    np.testing.assert_allclose(curve.far, fpr[::-1])
    np.testing.assert_allclose(curve.frr, fnr[::-1])
    assert np.all(np.diff(curve.thresholds) > 0)
    assert np.all(np.diff(curve.far) >= 0) and np.all(np.diff(curve.frr) <= 0)
    for i in range(0, len(curve.thresholds), 29):
        counts = error_counts(d, same, curve.thresholds[i])
        assert (counts.far, counts.frr) == pytest.approx((curve.far[i], curve.frr[i]))


def test_error_counts_by_hand():
    # Threshold 0.35 on D: genuine 0.1 0.2 0.3 accepted, 0.7 rejected; impostor 0.25 accepted.
    counts = error_counts(D, SAME, 0.35)
    assert (counts.true_accepts, counts.false_rejects) == (3, 1)
    assert (counts.false_accepts, counts.true_rejects) == (1, 3)
    assert (counts.far, counts.frr, counts.tar) == (0.25, 0.25, 0.75)
    assert counts.accuracy == 0.75
    # The threshold itself is accepted.
    assert error_counts(D, SAME, 0.3).true_accepts == 3


def test_d_prime_by_hand_and_on_gaussians():
    d = np.array([0.0, 0.2, 1.0, 1.2])  # genuine mean 0.1, impostor mean 1.1, both σ = 0.1
    assert d_prime(d, np.array([True, True, False, False])) == pytest.approx(10.0)
    rng = np.random.default_rng(3)
    g, i = rng.normal(0.4, 0.1, 50_000), rng.normal(0.8, 0.2, 50_000)
    same = np.r_[np.ones(50_000, bool), np.zeros(50_000, bool)]
    # |0.4 − 0.8| / √((0.01 + 0.04) / 2) = 0.4 / 0.1581 = 2.530
    assert d_prime(np.r_[g, i], same) == pytest.approx(2.530, abs=0.02)


# --- constructed distributions with known answers --------------------------------------------
def test_eer_of_a_constructed_grid_is_exact():
    # Genuine at 1..100, impostors at 51..150 (units of 0.01): accepting d ≤ t for t between
    # 75 and 76 rejects the 25 genuine above 75 and accepts the 25 impostors at or below 75.
    genuine = np.arange(1, 101) / 100
    impostor = np.arange(51, 151) / 100
    d = np.r_[genuine, impostor]
    same = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    eer, threshold = equal_error_rate(d, same)
    assert eer == pytest.approx(0.25, abs=0.005)
    assert 0.745 <= threshold <= 0.765


def test_tar_at_far_on_uniform_impostors_is_known():
    # 10,000 impostors spread evenly over (0, 1]; genuine evenly over (0, 0.5]. Accepting at
    # most 1 % of impostors means d ≤ 0.01, which accepts 2 % of genuine pairs.
    impostor = np.arange(1, 10_001) / 10_000
    genuine = np.arange(1, 5_001) / 10_000
    d = np.r_[genuine, impostor]
    same = np.r_[np.ones(5_000, bool), np.zeros(10_000, bool)]
    rows = tar_at_far_table(d, same)
    assert [r.target_far for r in rows] == [1e-1, 1e-2, 1e-3, 1e-4]
    assert [r.tar for r in rows] == pytest.approx([0.2, 0.02, 0.002, 0.0002])
    assert [r.achieved_far for r in rows] == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    assert rows[1].threshold == pytest.approx(0.01)
    assert all(r.measurable for r in rows) and rows[3].impostor_pairs_needed == 10_000
    # With 999 impostors, FAR 1e-3 is one pair in a thousand: not measurable.
    thin = tar_at_far_table(d[:5_999], same[:5_999])
    assert [r.measurable for r in thin] == [True, True, False, False]


# --- open-set identification ------------------------------------------------------------------
# Three mated searches over three enrolled people, and four non-mated searches.
MATED = np.array(
    [
        [0.3, 0.9, 0.8],  # true person 0, first, at 0.3
        [0.5, 0.4, 0.9],  # true person 0, second behind person 1
        [0.7, 0.6, 0.2],  # true person 2, first, at 0.2
    ]
)
TRUTH = np.array([0, 0, 2])
NON_MATED = np.array([0.25, 0.5, 0.9, 1.0])


def test_cmc_by_hand():
    assert list(true_person_ranks(MATED, TRUTH)) == [1, 2, 1]
    np.testing.assert_allclose(cmc(MATED, TRUTH, max_rank=3), [2 / 3, 1.0, 1.0])


def test_dir_against_fpir_by_hand():
    curve = open_set_curve(MATED, TRUTH, NON_MATED)
    assert (curve.mated_searches, curve.non_mated_searches) == (3, 4)
    at = dict(zip(curve.thresholds, zip(curve.fpir, curve.dir, strict=True), strict=True))
    # At 0.2 one mated search is identified, no non-mated search has anyone that near.
    assert at[0.2] == pytest.approx((0.0, 1 / 3))
    # At 0.3 both rank-1 searches are in; one non-mated search (0.25) is a false positive.
    assert at[0.3] == pytest.approx((0.25, 2 / 3))
    # The rank-2 search never counts, however lax the threshold.
    assert curve.dir.max() == pytest.approx(2 / 3) and curve.fpir[-1] == 1.0
    strict = dir_at_fpir(curve, 0.1)  # no false positive allowed among 4 searches
    assert strict.dir == pytest.approx(1 / 3) and strict.threshold == 0.2
    assert not strict.measurable  # 4 searches cannot show a rate of 1 in 10
    lax = dir_at_fpir(curve, 0.25)
    assert lax.dir == pytest.approx(2 / 3) and lax.achieved_fpir == 0.25 and lax.measurable
