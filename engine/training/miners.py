"""Triplet miners: which (anchor, positive, negative) triplets of a batch to learn from.

Mirrors pytorch-metric-learning's miners (``TripletMarginMiner(margin, type_of_triplets=...)``,
``BatchHardMiner``): each is a callable ``miner(embeddings, labels) -> (a, p, n)`` returning index
LongTensors, so any miner can be paired with any loss. Written here because that library is not
a dependency and the selection rules are what the training page teaches. Distances are squared
Euclidean, as in the loss, and computed without gradient: mining only chooses indices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from engine.training.losses import Triplets, pairwise_squared_distances, squared_distances
from engine.training.options import MINERS


class TripletMiner(Protocol):
    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets: ...


def _masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(N, N) boolean masks: ``positive[a, p]`` same person, a ≠ p; ``negative[a, n]`` other."""
    labels = labels.reshape(-1)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _empty(device: torch.device) -> Triplets:
    e = torch.empty(0, dtype=torch.long, device=device)
    return e, e.clone(), e.clone()


class BatchAllMiner:
    """Every valid triplet of the batch: labels[a] = labels[p], a ≠ p, labels[n] ≠ labels[a].

    With ``only_violating=True`` keeps only those with d(a, p) − d(a, n) + α > 0, i.e. the
    triplets with a non-zero loss (Hermans et al. 2017, "batch all" with non-zero averaging).
    """

    def __init__(self, margin: float = 0.2, only_violating: bool = False) -> None:
        self.margin = float(margin)
        self.only_violating = only_violating

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        positive, negative = _masks(labels.to(embeddings.device))
        valid = positive[:, :, None] & negative[:, None, :]  # [a, p, n]
        if self.only_violating:
            with torch.no_grad():
                d = pairwise_squared_distances(embeddings.detach())
            valid &= (d[:, :, None] - d[:, None, :] + self.margin) > 0
        a, p, n = valid.nonzero(as_tuple=True)
        return a, p, n


class BatchHardMiner:
    """Per anchor, the hardest positive (farthest) and hardest negative (nearest).

    One triplet per anchor that has both a positive and a negative in the batch. "Batch hard"
    of Hermans, Beyer, Leibe, "In Defense of the Triplet Loss for Person Re-Identification", 2017.
    """

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        positive, negative = _masks(labels.to(embeddings.device))
        with torch.no_grad():
            d = pairwise_squared_distances(embeddings.detach())
        usable = positive.any(dim=1) & negative.any(dim=1)
        if not usable.any():
            return _empty(embeddings.device)
        hardest_p = d.masked_fill(~positive, float("-inf")).argmax(dim=1)
        hardest_n = d.masked_fill(~negative, float("inf")).argmin(dim=1)
        a = usable.nonzero(as_tuple=True)[0]
        return a, hardest_p[a], hardest_n[a]


class SemiHardMiner:
    """FaceNet's semi-hard negatives: d(a, p) < d(a, n) < d(a, p) + α.

    Such negatives are farther than the positive (so not the hardest, which FaceNet found can
    collapse training early) but still inside the margin, so their loss is non-zero.

    For every anchor–positive pair: with ``hardest_only=True`` (the default, as in FaceNet's
    online mining) the nearest such negative, one triplet per pair; with ``False`` all of them
    (pytorch-metric-learning's ``type_of_triplets="semihard"``). Pairs without a semi-hard
    negative give no triplet.

    Reference: Schroff et al., FaceNet, CVPR 2015, section 3.2, eq. 4.
    """

    def __init__(self, margin: float = 0.2, hardest_only: bool = True) -> None:
        self.margin = float(margin)
        self.hardest_only = hardest_only

    def __call__(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        positive, negative = _masks(labels.to(embeddings.device))
        with torch.no_grad():
            d = pairwise_squared_distances(embeddings.detach())
        d_ap = d[:, :, None]  # [a, p, ·]
        d_an = d[:, None, :]  # [a, ·, n]
        semi_hard = (
            positive[:, :, None]
            & negative[:, None, :]
            & (d_an > d_ap)
            & (d_an < d_ap + self.margin)
        )
        if not self.hardest_only:
            a, p, n = semi_hard.nonzero(as_tuple=True)
            return a, p, n
        has_any = semi_hard.any(dim=2)  # [a, p]
        if not has_any.any():
            return _empty(embeddings.device)
        nearest = d_an.expand_as(semi_hard).masked_fill(~semi_hard, float("inf")).argmin(dim=2)
        a, p = has_any.nonzero(as_tuple=True)
        return a, p, nearest[a, p]


class TripletPool:
    """The hard-triplet generator: a fixed pool of dataset triplets, fed only while still hard.

    Not a batch miner: it holds (a, p, n) indices into the whole dataset. Each epoch
    ``rescore`` computes every triplet's loss under the current model; a triplet that satisfies
    the margin with room to spare — loss 0 and d(a, n) − d(a, p) > α + slack — stops being fed,
    the rest stay ``active``. Every triplet is rescored each time, so one that the model makes
    hard again returns to the feed. The falling ``active_fraction`` is the training signal a
    student watches. Our own: no library has this seed-course generator.
    """

    def __init__(self, triplets: Triplets, margin: float = 0.2, slack: float = 0.0) -> None:
        a, p, n = (torch.as_tensor(t, dtype=torch.long).reshape(-1) for t in triplets)
        if not (len(a) == len(p) == len(n)):
            raise ValueError("a, p and n must have the same length")
        if slack < 0:
            raise ValueError(f"slack must be non-negative, got {slack}")
        self.triplets: Triplets = (a, p, n)
        self.margin = float(margin)
        self.slack = float(slack)
        self.active = torch.ones(len(a), dtype=torch.bool)
        self.losses = torch.full((len(a),), float("nan"))
        self.d_ap = torch.full((len(a),), float("nan"))  # ‖f(a) − f(p)‖² at the last rescore
        self.d_an = torch.full((len(a),), float("nan"))

    @classmethod
    def random(
        cls,
        labels: Tensor,
        per_anchor: int = 4,
        margin: float = 0.2,
        slack: float = 0.0,
        seed: int = 0,
    ) -> TripletPool:
        """``per_anchor`` triplets per sample that has a positive: random positive, negative."""
        labels = torch.as_tensor(labels).reshape(-1).cpu()
        positive, negative = _masks(labels)
        g = torch.Generator().manual_seed(seed)
        anchors = (positive.any(dim=1) & negative.any(dim=1)).nonzero(as_tuple=True)[0]
        a = anchors.repeat_interleave(per_anchor)
        # One uniform draw per row from each mask: multinomial over 0/1 weights.
        p = torch.multinomial(positive[a].float(), 1, generator=g).reshape(-1)
        n = torch.multinomial(negative[a].float(), 1, generator=g).reshape(-1)
        return cls((a, p, n), margin=margin, slack=slack)

    def __len__(self) -> int:
        return len(self.active)

    @property
    def active_fraction(self) -> float:
        return float(self.active.float().mean()) if len(self) else 0.0

    def rescore(self, embeddings: Tensor | np.ndarray | Callable[[], Tensor]) -> float:
        """Score every triplet on the dataset's current (N, D) embeddings (or a function that
        returns them); update ``active``; return the active fraction."""
        if callable(embeddings):
            embeddings = embeddings()
        e = torch.as_tensor(embeddings).detach().float().cpu()
        a, p, n = self.triplets
        with torch.no_grad():
            self.d_ap = squared_distances(e[a], e[p])
            self.d_an = squared_distances(e[a], e[n])
            self.losses = torch.clamp(self.d_ap - self.d_an + self.margin, min=0.0)
            easy = (self.losses == 0) & (self.d_an - self.d_ap > self.margin + self.slack)
        self.active = ~easy
        return self.active_fraction

    def active_triplets(self) -> Triplets:
        """The (a, p, n) index triplets still being fed."""
        idx = self.active.nonzero(as_tuple=True)[0]
        a, p, n = self.triplets
        return a[idx], p[idx], n[idx]


def make_miner(name: str, alpha: float) -> TripletMiner:
    """The batch miner called ``name`` ("pool" is not a batch miner: see ``TripletPool``)."""
    if name == "batch-all":
        return BatchAllMiner(alpha, only_violating=True)
    if name == "batch-hard":
        return BatchHardMiner()
    if name == "semi-hard":
        return SemiHardMiner(alpha)
    raise ValueError(f"unknown miner {name!r}; choose one of {', '.join(MINERS)}")
