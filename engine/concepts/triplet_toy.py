"""The triplet loss on three points of a plane: the geometry behind the Train page's loss.

    L(A, P, N) = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)

Here f(A), f(P), f(N) are 2-D points the user places, and the loss is the engine's own
``TripletMarginLoss`` (``engine.training.losses``), so the toy and training agree by
construction. Geometrically the loss is 0 exactly when N lies outside the circle around A of
radius √(‖f(A) − f(P)‖² + α).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.training.losses import TripletMarginLoss

Point = Sequence[float]


@dataclass(frozen=True)
class ToyTriplet:
    """One triplet's squared distances, margin and loss."""

    d_ap: float
    """‖f(A) − f(P)‖²"""
    d_an: float
    """‖f(A) − f(N)‖²"""
    alpha: float
    loss: float

    @property
    def active(self) -> bool:
        """A non-zero loss: this triplet still produces a gradient."""
        return self.loss > 0

    @property
    def kind(self) -> str:
        """FaceNet's names: easy (loss 0), semi-hard (N beyond P but inside the margin), hard
        (N closer to A than P is)."""
        if self.d_an < self.d_ap:
            return "hard"
        return "semi-hard" if self.active else "easy"

    @property
    def negative_radius(self) -> float:
        """√(d(A, P) + α): N outside this circle around A gives loss 0."""
        return math.sqrt(self.d_ap + self.alpha)


def triplet_loss(anchor: Point, positive: Point, negative: Point, alpha: float) -> ToyTriplet:
    """The triplet loss of three points (any dimension), by ``TripletMarginLoss``."""
    a, p, n = (
        torch.tensor([list(map(float, x))], dtype=torch.float64)
        for x in (anchor, positive, negative)
    )
    loss = TripletMarginLoss(alpha).per_triplet(a, p, n)
    return ToyTriplet(
        d_ap=float((a - p).pow(2).sum()),
        d_an=float((a - n).pow(2).sum()),
        alpha=float(alpha),
        loss=float(loss[0]),
    )


def loss_over_alpha(
    anchor: Point, positive: Point, negative: Point, alphas: Sequence[float]
) -> np.ndarray:
    """The loss of one triplet for each margin in ``alphas``: 0 until α reaches d(A,N) − d(A,P),
    then rising one for one with α."""
    return np.array([triplet_loss(anchor, positive, negative, a).loss for a in alphas])


def collapsed_loss(alpha: float, dim: int = 2) -> float:
    """The loss when the network maps every image to the same point (f ≡ 0).

    With α = 0 that trivial network scores a perfect 0; with α > 0 it scores α. The margin is
    what stops training from collapsing every embedding onto one point.
    """
    zero = [0.0] * dim
    return triplet_loss(zero, zero, zero, alpha).loss
