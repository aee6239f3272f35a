"""The 2-D triplet toy: the loss by hand, its geometry, the collapse the margin prevents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.concepts.triplet_toy import collapsed_loss, loss_over_alpha, triplet_loss


def test_loss_matches_the_formula_by_hand():
    # d(A,P) = 1² + 1² = 2, d(A,N) = 1.5² = 2.25: 2 − 2.25 + 0.5 = 0.25
    result = triplet_loss((0, 0), (1, 1), (1.5, 0), alpha=0.5)
    assert result.d_ap == pytest.approx(2.0)
    assert result.d_an == pytest.approx(2.25)
    assert result.loss == pytest.approx(0.25)
    assert result.active and result.kind == "semi-hard"


def test_easy_and_hard_triplets():
    easy = triplet_loss((0, 0), (0.5, 0), (2, 0), alpha=0.2)
    assert easy.loss == 0 and not easy.active and easy.kind == "easy"
    hard = triplet_loss((0, 0), (1, 0), (0.5, 0), alpha=0.2)
    assert hard.kind == "hard" and hard.loss == pytest.approx(1 - 0.25 + 0.2)


def test_loss_is_zero_exactly_outside_the_circle():
    base = triplet_loss((0, 0), (0.6, 0.8), (0, 0), alpha=0.44)  # radius √(1 + 0.44) = 1.2
    radius = base.negative_radius
    assert radius == pytest.approx(1.2)
    angle = 0.7
    for scale, zero in ((0.99, False), (1.01, True)):
        n = (scale * radius * math.cos(angle), scale * radius * math.sin(angle))
        assert (triplet_loss((0, 0), (0.6, 0.8), n, 0.44).loss == 0) is zero


def test_alpha_zero_lets_the_network_collapse():
    assert collapsed_loss(0.0) == 0.0
    assert collapsed_loss(0.3) == pytest.approx(0.3)
    assert collapsed_loss(0.3, dim=128) == pytest.approx(0.3)


def test_loss_over_alpha_is_a_hinge():
    # d(A,N) − d(A,P) = 4 − 1 = 3: zero up to α = 3, then α − 3
    losses = loss_over_alpha((0, 0), (1, 0), (0, 2), [0.0, 2.9, 3.5, 5.0])
    np.testing.assert_allclose(losses, [0, 0, 0.5, 2.0])
