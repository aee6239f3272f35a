"""The quiz as data, and the live computations behind questions 4, 5 and 10."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.concepts.quiz import (
    QUESTIONS,
    TRIPLET_CANDIDATES,
    FaceTriplet,
    conv3d_answer,
    evaluate_candidates,
    siamese_check,
)
from ui.widgets import resources

EXPECTED = {
    1: ["True"],
    3: ["False"],
    5: ["True"],
    6: ["True"],
    7: ["False"],
    8: ["True"],
    9: ["The pixel values of the generated image G"],
    10: ["30×30×30×32"],
}


def test_ten_questions_with_the_issues_answers():
    assert [q.number for q in QUESTIONS] == list(range(1, 11))
    for question in QUESTIONS:
        assert question.correct <= set(range(len(question.choices)))
        assert question.explanation
        assert question.is_correct(question.answer if question.multiple else question.answer[0])
    for number, answer in EXPECTED.items():
        assert QUESTIONS[number - 1].answer == answer
    two = QUESTIONS[1]
    assert two.multiple and all("one-shot" in a or "single image" in a for a in two.answer)
    assert not two.is_correct(two.answer[:1])  # half of "select all that apply" is wrong
    assert QUESTIONS[3].answer == ["max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)"]


def test_candidate_losses_by_hand():
    a, p, n = np.zeros(3), np.array([0.1, 0, 0]), np.array([0, 0.5, 0])  # d_ap .01, d_an .25
    triplet = FaceTriplet(a, p, n, (a, a, a), ("a", "p", "n"), "toy")
    rows = evaluate_candidates(triplet, alpha=0.2)
    assert [r.formula for r in rows] == [f for f, _ in TRIPLET_CANDIDATES]
    assert rows[0].good == 0 and rows[0].swapped == pytest.approx(0.44)
    assert rows[1].good == pytest.approx(0.44) and rows[1].swapped == 0
    assert rows[2].collapsed == rows[3].collapsed == 0  # −α lets everything collapse
    assert [r.behaves for r in rows] == [True, False, False, False]


@pytest.fixture(scope="module")
def faces() -> FaceTriplet:
    """Real embeddings, from the app's cached factory (shared with the page test)."""
    return resources.concepts_face_triplet()


def test_only_the_right_triplet_loss_behaves_on_real_faces(faces):
    d_ap = float(np.sum((faces.anchor - faces.positive) ** 2))
    d_an = float(np.sum((faces.anchor - faces.negative) ** 2))
    assert d_ap + 0.2 < d_an  # the pretrained model already separates them by the margin
    rows = evaluate_candidates(faces, alpha=0.2)
    assert [r.behaves for r in rows] == [True, False, False, False]
    assert rows[0].collapsed == pytest.approx(0.2)
    assert rows[0].swapped == pytest.approx(d_an - d_ap + 0.2, rel=1e-5)


def test_siamese_branches_share_one_parameter_set():
    check = siamese_check()
    assert check.parameter_tensors == 2  # one weight matrix and one bias, for A, P and N
    assert check.parameters == 128 * 128 + 128
    assert check.twin_gap == 0.0
    assert check.branch_gap < 1e-5


def test_question_ten_is_computed_by_a_real_conv3d():
    shapes = conv3d_answer()
    assert shapes.device == "cpu" and shapes.agree
    assert shapes.course_notation(shapes.torch) == QUESTIONS[9].answer[0]
    layer = torch.nn.Conv3d(16, 32, 3)
    assert tuple(layer(torch.zeros(1, 16, 32, 32, 32)).shape[1:]) == shapes.torch
