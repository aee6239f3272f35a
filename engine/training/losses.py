"""Triplet margin loss, as FaceNet and the course write it.

    L(A, P, N) = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)

Mirrors pytorch-metric-learning's ``TripletMarginLoss(margin, distance=LpDistance(power=2))``
(averaged over the given triplets, not only the active ones). That library is not a dependency
here, and the formula is the point of the training page, so it is written out in a few lines.

Reference: Schroff, Kalenichenko, Philbin, "FaceNet: A Unified Embedding for Face Recognition
and Clustering", CVPR 2015, eq. 1.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

Triplets = tuple[Tensor, Tensor, Tensor]
"""Index triplets (a, p, n): three LongTensors of equal length into a batch of embeddings."""


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """Row-wise ‖x − y‖² for two (T, D) tensors → (T,)."""
    return (x - y).pow(2).sum(dim=1)


def pairwise_squared_distances(embeddings: Tensor) -> Tensor:
    """(N, N) matrix of ‖e_i − e_j‖², computed exactly (no ‖x‖² + ‖y‖² − 2xy cancellation)."""
    return (embeddings[:, None, :] - embeddings[None, :, :]).pow(2).sum(dim=-1)


class TripletLossOutput(NamedTuple):
    loss: Tensor  # scalar, mean over the given triplets
    active_fraction: float  # share of triplets with a non-zero loss (they produce gradient)


class TripletMarginLoss(nn.Module):
    """``mean(max(d(A, P) − d(A, N) + α, 0))`` with d the squared Euclidean distance."""

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be non-negative, got {margin}")
        self.margin = float(margin)

    def per_triplet(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss of each triplet, shape (T,)."""
        d_ap = squared_distances(anchor, positive)
        d_an = squared_distances(anchor, negative)
        return torch.clamp(d_ap - d_an + self.margin, min=0.0)

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> TripletLossOutput:
        """Loss of (T, D) anchor, positive and negative embeddings (the three Siamese branches)."""
        if not (anchor.shape == positive.shape == negative.shape) or anchor.ndim != 2:
            raise ValueError(
                "anchor, positive and negative must be (T, D) of one shape, got "
                f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
            )
        if len(anchor) == 0:
            # Keep the graph connected so callers can always call backward().
            return TripletLossOutput(anchor.sum() * 0.0, 0.0)
        losses = self.per_triplet(anchor, positive, negative)
        active = float((losses > 0).float().mean())
        return TripletLossOutput(losses.mean(), active)

    def on_indices(self, embeddings: Tensor, triplets: Triplets) -> TripletLossOutput:
        """Loss of the index triplets a miner returned for ``embeddings`` (N, D)."""
        a, p, n = triplets
        return self(embeddings[a], embeddings[p], embeddings[n])
