"""Choosing Recognize's open-set point on the gallery's searches: the target offered first, the
threshold at a target FPIR, and the choices that cannot be saved."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.metrics import dir_at_fpir, open_set_curve
from engine.evaluation.operating_point import (
    OPEN_SET_FPIR_CHOICES,
    default_open_set_fpir,
    open_set_point_at,
    open_set_point_problem,
    read_open_set_point,
    save_open_set_point,
)
from engine.open_set import DEFAULT_TARGET_FPIR
from engine.permissions import OPERATOR, Actor, PermissionDenied, Role

MODEL = "dlib-resnet-v1"


def _curve(non_mated: list[float]):
    """Four mated searches, each finding its person first at 0.1, 0.2, 0.3, 0.4 (two people:
    the true one and a farther one), and the non-mated searches' nearest distances."""
    mated = np.array([[0.1, 0.9], [0.2, 0.9], [0.9, 0.3], [0.9, 0.4]])
    truth = np.array([0, 0, 1, 1])
    return open_set_curve(mated, truth, np.asarray(non_mated))


def test_the_target_offered_first_is_recognizes_default_when_measurable():
    assert DEFAULT_TARGET_FPIR in OPEN_SET_FPIR_CHOICES
    assert default_open_set_fpir(100) == DEFAULT_TARGET_FPIR  # 100 searches measure 1e-2
    assert default_open_set_fpir(10_000) == DEFAULT_TARGET_FPIR  # never stricter than it
    assert default_open_set_fpir(30) == 5e-2  # the strictest that 30 searches measure
    assert default_open_set_fpir(3) == OPEN_SET_FPIR_CHOICES[0]  # none: the most lenient


def test_the_point_at_a_target_fpir_is_the_hand_computed_one():
    # Ten strangers; the nearest at 0.25 and 0.35: FPIR 1e-1 allows one of them accepted.
    curve = _curve([0.25, 0.35] + [0.8] * 8)
    row = dir_at_fpir(curve, 0.1)
    assert open_set_point_problem(row) is None
    point = open_set_point_at(row, model_id=MODEL, gallery_size=7, dataset="enrolled gallery")
    # The largest threshold naming at most 1 of 10 strangers is just below 0.35: the last
    # candidate there is 0.3 (a mated distance), where 3 of 4 people are found.
    assert point.threshold == pytest.approx(0.3)
    assert point.dir == pytest.approx(0.75) and point.fpir == pytest.approx(0.1)
    assert point.target_fpir == 0.1 and point.gallery_size == 7
    assert point.model_id == MODEL and point.dataset == "enrolled gallery"


def test_an_unmeasurable_target_is_refused_with_a_sentence():
    row = dir_at_fpir(_curve([0.8] * 10), 0.05)  # 10 strangers cannot measure 5e-2
    problem = open_set_point_problem(row)
    assert problem == (
        "An FPIR of 5e-02 is not measurable on this gallery: it needs at least 20 non-mated "
        "searches (enrolled faces) and there are 10."
    )
    with pytest.raises(ValueError, match="not measurable"):
        open_set_point_at(row, model_id=MODEL, gallery_size=5, dataset="g")


def test_no_threshold_above_zero_is_refused():
    # Two strangers tie at 0.05, nearer than anyone's own face: 1e-1 of 10 allows one, and
    # both come at once, so only "accept nothing" (−inf) keeps the rate.
    row = dir_at_fpir(_curve([0.05, 0.05] + [0.8] * 8), 0.1)
    assert row.threshold == -np.inf
    assert "No threshold above 0" in open_set_point_problem(row)
    with pytest.raises(ValueError, match="No threshold above 0"):
        open_set_point_at(row, model_id=MODEL, gallery_size=5, dataset="g")


def test_the_chosen_point_is_saved_by_an_admin_only(tmp_path):
    row = dir_at_fpir(_curve([0.25, 0.35] + [0.8] * 8), 0.1)
    point = open_set_point_at(row, model_id=MODEL, gallery_size=7, dataset="enrolled gallery")
    with pytest.raises(PermissionDenied, match="save the operating point"):
        save_open_set_point(tmp_path, point, actor=Actor(Role.USER))
    assert read_open_set_point(tmp_path) is None
    save_open_set_point(tmp_path, point, actor=OPERATOR)
    assert read_open_set_point(tmp_path) == point


def test_the_saved_points_sentence_counts_people_in_words():
    row = dir_at_fpir(_curve([0.25, 0.35] + [0.8] * 8), 0.1)
    one = open_set_point_at(row, model_id=MODEL, gallery_size=1, dataset="g")
    assert one.describe().endswith("DIR 75.0%, with 1 person enrolled)")
    seven = open_set_point_at(row, model_id=MODEL, gallery_size=7, dataset="g")
    assert seven.describe(9).endswith(
        "with 7 people enrolled; 9 now, so more strangers may be named)"
    )
