"""TripletMarginLoss against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from engine.training.losses import TripletMarginLoss, pairwise_squared_distances


def test_loss_matches_hand_computation() -> None:
    # Triplet 1: d(A,P) = 1, d(A,N) = 4 → max(1 − 4 + 0.5, 0) = 0.
    # Triplet 2: d(A,P) = 4, d(A,N) = 2 → max(4 − 2 + 0.5, 0) = 2.5.
    anchor = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    positive = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    negative = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    loss, active = TripletMarginLoss(margin=0.5)(anchor, positive, negative)
    assert loss.item() == pytest.approx(1.25)  # mean over both triplets, not the active one
    assert active == 0.5


def test_loss_is_zero_when_every_triplet_satisfies_the_margin() -> None:
    anchor = torch.zeros(3, 2)
    positive = torch.tensor([[0.1, 0.0], [0.0, 0.1], [0.1, 0.1]])
    negative = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    loss, active = TripletMarginLoss(margin=0.2)(anchor, positive, negative)
    assert loss.item() == 0.0
    assert active == 0.0


def test_loss_at_the_margin_boundary_counts_as_satisfied() -> None:
    # d(A,P) − d(A,N) + α = 1 − 4 + 3 = 0 exactly: no loss, not active.
    loss, active = TripletMarginLoss(3.0)(
        torch.zeros(1, 1), torch.tensor([[1.0]]), torch.tensor([[2.0]])
    )
    assert loss.item() == 0.0
    assert active == 0.0


def test_gradient_pulls_positive_in_and_pushes_negative_out() -> None:
    anchor = torch.zeros(1, 1)
    positive = torch.tensor([[2.0]], requires_grad=True)
    negative = torch.tensor([[1.0]], requires_grad=True)
    loss, _ = TripletMarginLoss(0.1)(anchor, positive, negative)
    loss.backward()
    assert positive.grad.item() == pytest.approx(4.0)  # ∂(p − a)²/∂p = 2(p − a)
    assert negative.grad.item() == pytest.approx(-2.0)  # ∂(−(n − a)²)/∂n = −2(n − a)


def test_on_indices_equals_the_direct_call_and_empty_is_zero() -> None:
    emb = torch.tensor([[0.0], [1.0], [3.0]], requires_grad=True)
    loss_fn = TripletMarginLoss(0.5)
    a, p, n = torch.tensor([0, 2]), torch.tensor([2, 1]), torch.tensor([1, 0])
    assert loss_fn.on_indices(emb, (a, p, n)).loss.item() == pytest.approx(
        loss_fn(emb[a], emb[p], emb[n]).loss.item()
    )
    empty = torch.empty(0, dtype=torch.long)
    out = loss_fn.on_indices(emb, (empty, empty, empty))
    assert out.loss.item() == 0.0 and out.active_fraction == 0.0
    out.loss.backward()  # still connected to the graph


def test_pairwise_squared_distances_and_bad_margin() -> None:
    d = pairwise_squared_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    assert torch.equal(d, torch.tensor([[0.0, 25.0], [25.0, 0.0]]))
    with pytest.raises(ValueError, match="margin"):
        TripletMarginLoss(-0.1)
