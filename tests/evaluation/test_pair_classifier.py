"""The learned verification head: its features, that it learns, and that a saved head stays
with the model whose descriptors it was trained on."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ModelMismatch
from engine.evaluation.metrics import roc_auc
from engine.evaluation.pair_classifier import (
    CHI2_EPSILON,
    PairClassifier,
    PairClassifierFileError,
    out_of_fold_scores,
    pair_features,
    saved_pair_classifiers,
    verify_with_classifier,
)
from engine.evaluation.scoring import DistanceScorer, PairScores, evaluate
from engine.permissions import OPERATOR

MODEL = "dlib-resnet-v1"


def _synthetic_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of 16-d descriptors where only dimensions 0-3 carry identity.

    Genuine pairs agree on dimensions 0-3; impostor pairs differ there by at least 0.5. The
    other 12 dimensions are loud noise, so the plain distance mixes the classes while a head
    that weighs dimensions 0-3 separates them perfectly. Values stay non-negative, the domain
    χ² is written for.
    """
    rng = np.random.default_rng(seed)
    same = np.arange(n) % 2 == 0
    a = rng.uniform(1, 3, (n, 16))
    b = a.copy()
    b[:, 4:] = rng.uniform(1, 3, (n, 12))
    shift = rng.uniform(0.5, 1.0, (n, 4)) * rng.choice([-1, 1], (n, 4))
    b[~same, :4] += shift[~same]
    return a, b, same


def test_features_by_hand_and_the_chi2_guard():
    a = np.array([[0.3, -0.2, 0.0, 0.1]])
    b = np.array([[0.1, 0.2, 0.0, -0.1]])
    np.testing.assert_allclose(pair_features(a, b, "absdiff"), [[0.2, 0.4, 0.0, 0.2]])
    chi2 = pair_features(a, b, "chi2")
    # (0.2)² / (0.4 + ε); (−0.4)² / (0 + ε) stays finite; 0 / ε = 0; (0.2)² / (0 + ε).
    np.testing.assert_allclose(
        chi2, [[0.04 / (0.4 + CHI2_EPSILON), 0.16 / CHI2_EPSILON, 0.0, 0.04 / CHI2_EPSILON]]
    )
    assert np.isfinite(chi2).all() and (chi2 >= 0).all()
    zeros = np.zeros((3, 8))
    assert np.array_equal(pair_features(zeros, zeros, "chi2"), zeros)
    with pytest.raises(ValueError, match="unknown feature"):
        pair_features(a, b, "cosine")


@pytest.mark.parametrize("feature", ["absdiff", "chi2"])
def test_the_head_learns_a_problem_the_distance_cannot_separate(feature):
    a, b, same = _synthetic_pairs(2000, seed=0)
    head = PairClassifier.fit(a, b, same, feature=feature, model_id=MODEL, trained_on="train")
    test_a, test_b, test_same = _synthetic_pairs(1000, seed=1)
    probabilities = head.score(test_a, test_b)
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    assert np.mean((probabilities >= 0.5) == test_same) > 0.97
    distances = DistanceScorer().score(test_a, test_b)
    assert roc_auc(-probabilities, test_same) > 0.995
    assert roc_auc(distances, test_same) < 0.9  # the noise dimensions drown the signal
    # The weights say where the identity is.
    assert np.abs(head.weights[:4]).min() > np.abs(head.weights[4:]).max()
    assert head.metadata["n_pairs"] == 2000 and head.metadata["trained_on"] == "train"


def test_head_scores_evaluate_with_probability_thresholds():
    a, b, same = _synthetic_pairs(600, seed=2)
    head = PairClassifier.fit(a, b, same, feature="absdiff", model_id=MODEL)
    test = PairScores.of(head, *_synthetic_pairs(600, seed=3))
    train = PairScores.of(head, a, b, same)
    report = evaluate(test, train=train)
    assert report.higher_is_same and 0 < report.threshold < 1
    assert report.accuracy > 0.95 and report.roc_auc > 0.99
    # Accepting at the reported threshold means probability ≥ threshold.
    errors = test.errors_at(report.threshold)
    assert errors.accuracy == pytest.approx(report.accuracy)
    row = report.tar_at_far[0]
    assert test.errors_at(row.threshold).far <= row.target_far
    assert test.errors_at(row.threshold).tar == pytest.approx(row.tar)


def test_save_load_round_trip_and_another_model_is_refused(tmp_path):
    a, b, same = _synthetic_pairs(400, seed=4)
    head = PairClassifier.fit(a, b, same, feature="chi2", model_id=MODEL, trained_on="dev")
    head = head.with_metadata(metrics={"roc_auc": 0.99}, threshold=0.7)
    path = head.save(tmp_path, "My chi2 head!", actor=OPERATOR)
    assert path == tmp_path / "heads" / "My-chi2-head.npz"
    loaded = PairClassifier.load(path, MODEL)
    np.testing.assert_allclose(loaded.score(a, b), head.score(a, b), rtol=0, atol=1e-12)
    assert loaded.feature == "chi2" and loaded.threshold == 0.7
    assert loaded.metadata["metrics"] == {"roc_auc": 0.99}
    assert loaded.metadata["trained_on"] == "dev" and "date" in loaded.metadata
    with pytest.raises(ModelMismatch, match="trained on dlib-resnet-v1"):
        PairClassifier.load(path, "another-model")
    assert saved_pair_classifiers(tmp_path, MODEL) == {"My-chi2-head": path}
    assert saved_pair_classifiers(tmp_path, "another-model") == {}
    with pytest.raises(ModelMismatch):
        head.score(a[:, :8], b[:, :8])  # 8-d descriptors are another model's


def test_a_damaged_head_file_is_a_plain_error(tmp_path):
    folder = tmp_path / "heads"
    folder.mkdir()
    (folder / "broken.npz").write_bytes(b"not a head")
    with pytest.raises(PairClassifierFileError, match="not a readable head file"):
        PairClassifier.load(folder / "broken.npz", MODEL)
    assert saved_pair_classifiers(tmp_path, MODEL) == {}


def test_out_of_fold_scores_never_score_a_pair_with_a_head_that_saw_it():
    a, b, same = _synthetic_pairs(400, seed=5)
    folds = np.arange(400) % 4
    scores = out_of_fold_scores(a, b, same, folds, feature="absdiff", model_id=MODEL)
    refit = PairClassifier.fit(
        a[folds != 0], b[folds != 0], same[folds != 0], feature="absdiff", model_id=MODEL
    )
    np.testing.assert_allclose(scores[folds == 0], refit.score(a[folds == 0], b[folds == 0]))
    assert np.mean((scores >= 0.5) == same) > 0.95


def test_verify_with_head_takes_the_best_reference():
    a, b, same = _synthetic_pairs(400, seed=6)
    head = PairClassifier.fit(a, b, same, feature="absdiff", model_id=MODEL)
    genuine, impostor = np.flatnonzero(same)[0], np.flatnonzero(~same)[0]
    probe = a[genuine]
    references = np.stack([b[impostor], b[genuine]])  # the second is the probe's person
    decision = verify_with_classifier(head, probe, references, 0.5, "default 0.5")
    assert decision.reference == 1 and decision.same
    assert decision.margin == pytest.approx(decision.probability - 0.5)
    alone = verify_with_classifier(head, a[impostor], b[impostor], 0.5, "default 0.5")
    assert not alone.same
