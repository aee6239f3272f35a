"""One evaluation of embedded pairs: the worst errors and errors per person by hand, and LFW's
k-fold protocol for the distance and for heads trained on the other folds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.evaluation.embedding import EmbeddedPairs
from engine.evaluation.pair_sets import DatasetError, PairSet
from engine.evaluation.protocol import (
    errors_by_identity,
    pair_scores,
    run_evaluation,
    worst_errors,
)
from engine.evaluation.scoring import DistanceScorer

MODEL = "dlib-resnet-v1"


def test_worst_errors_and_errors_per_person_by_hand():
    pairs = PairSet(
        name="hand",
        source="folder",
        root=Path("."),
        images=("A1", "A2", "B1", "C1"),
        identities=("A", "A", "B", "C"),
        a=np.array([0, 0, 1, 2]),
        b=np.array([1, 2, 3, 3]),
        same=np.array([True, False, False, False]),
        folds=np.zeros(4, np.int64),
    )
    # On a line: A1 at 0, A2 at 0.5, B1 at 0.3, C1 at 2 → distances 0.5, 0.3, 1.5, 1.7.
    points = np.array([[0.0, 0], [0.5, 0], [0.3, 0], [2.0, 0]], np.float32)
    embedded = EmbeddedPairs(pairs, points, np.zeros(4, np.int8), MODEL, "none")
    scores = pair_scores(DistanceScorer(), embedded)
    impostors, genuine = worst_errors(embedded, scores, count=2)
    assert [r.pair for r in impostors] == [1, 2] and impostors[0].score == pytest.approx(0.3)
    assert [r.pair for r in genuine] == [0]
    rows = {r.person: r for r in errors_by_identity(embedded, scores, threshold=0.4)}
    assert list(rows) == ["A", "B", "C"]  # most errors first
    # A: its genuine pair rejected, and accepted against B; B: that one false accept.
    assert (rows["A"].false_rejects, rows["A"].genuine_pairs) == (1, 1)
    assert (rows["A"].false_accepts, rows["A"].impostor_pairs) == (1, 2)
    assert (rows["B"].false_accepts, rows["B"].impostor_pairs) == (1, 2)
    assert (rows["C"].false_accepts, rows["C"].false_rejects, rows["C"].impostor_pairs) == (0, 0, 2)


def test_pairs_in_folds_follow_the_lfw_protocol_for_distance_and_heads():
    rng = np.random.default_rng(2)
    n_people, per_fold = 40, 20
    centres = rng.normal(0, 0.12, (n_people, 128))
    images = centres.repeat(2, axis=0) + rng.normal(0, 0.03, (2 * n_people, 128))
    # Fold f: 10 genuine pairs (a person's two photos) and 10 impostor pairs.
    a, b, same, folds = [], [], [], []
    for fold in range(4):
        people = rng.choice(n_people, size=per_fold, replace=False)
        for i, person in enumerate(people):
            other = people[(i + 1) % per_fold]
            genuine = i < per_fold // 2
            a.append(2 * person)
            b.append(2 * person + 1 if genuine else 2 * other)
            same.append(genuine)
            folds.append(fold)
    pairs = PairSet(
        name="folds",
        source="pairs file",
        root=Path("."),
        images=tuple(str(i) for i in range(len(images))),
        identities=tuple(str(i // 2) for i in range(len(images))),
        a=np.array(a),
        b=np.array(b),
        same=np.array(same),
        folds=np.array(folds),
    )
    embedded = EmbeddedPairs(pairs, images.astype(np.float32), np.zeros(len(images)), MODEL, "-")
    distance = run_evaluation("distance", embedded)
    assert distance.report.protocol.startswith("4-fold")
    assert len(distance.report.fold_accuracies) == 4 and distance.report.accuracy == 1.0
    head = run_evaluation("absdiff", embedded)  # no training pairs: trained on the other folds
    assert head.head is None and head.report.protocol.startswith("4-fold")
    assert head.report.higher_is_same and head.report.accuracy > 0.9
    with pytest.raises(DatasetError, match="needs training pairs"):
        run_evaluation("chi2", replace(embedded, pairs=replace(pairs, folds=np.zeros(80))))
