"""What a triplet-training run does: one documented, validated dataclass, as ``StyleOptions`` is
for style transfer. The Train page and ``cli.py train`` read their defaults and choices here.

The data (descriptors and labels, or chips) and the callbacks are arguments of
``train_projection`` and ``TrainingSession``; everything one would tune is a field here. This
module imports no torch, so ``cli.py train --help`` reads it without loading any network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

MINERS = ("batch-all", "batch-hard", "semi-hard", "pool")
"""The miners a training run can use, by name (``engine.training.miners``; "pool" is the
``TripletPool``)."""
HEAD_WEIGHT_DECAY = 1e-4
"""AdamW decay of a projection head when none is given: towards W = 0, b = 0, the identity."""
FINE_TUNE_LEVELS = (0, 1, 2)
"""0: a projection head on the frozen descriptors; 1 or 2: the ResNet's last level(s) + fc."""
FINE_TUNE_VIEWS = 4
"""Views per chip when fine-tuning and none are given: the chip and 3 random variations."""


@dataclass(frozen=True)
class TrainingOptions:
    """How a triplet-loss run trains. The defaults train a projection head in seconds on a CPU
    and keep its best epoch on held-out people."""

    alpha: float = 0.2
    """Triplet margin α of L = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)."""
    miner: str = "semi-hard"
    """Which triplets to learn from: one of ``MINERS``."""
    epochs: int = 10
    lr: float = 1e-3
    """Adam(W)'s learning rate."""
    weight_decay: float | None = None
    """AdamW decay; None: ``weight_decay_for`` the model trained."""
    p: int = 8
    """People per P×K batch (at least 2: negatives come from other people)."""
    k: int = 4
    """Images per person per batch (at least 2: positives need two images)."""
    seed: int = 0
    """Seeds the splits, the batches, the pool and the augmentation: a run is reproducible."""
    held_out: float = 0.2
    """Share of the training people set aside to keep the best epoch by their ROC AUC, epoch 0
    (the untrained model) included (``engine.training.validation``); 0: keep the last epoch."""
    test_share: float = 0.2
    """Share of the people set aside before training for ``TrainingSession``'s before/after
    comparison: never trained on, nor used to pick the epoch; 0: compare on no held-out people
    (the CLI compares on its ``--eval-pairs`` and trains on every person of the folder)."""
    pool_per_anchor: int = 4
    """Miner "pool": random triplets per sample in the pool."""
    pool_slack: float = 0.0
    """Miner "pool": a triplet stops being fed once d(a, n) − d(a, p) > α + slack."""
    fine_tune: int = 0
    """``TrainingSession``: 0 trains a ``ResidualProjection`` on the frozen descriptors; 1 or 2
    fine-tunes the face ResNet's last level(s) and fc on the images' chips
    (``engine.training.finetune``)."""
    augment_views: int | None = None
    """``TrainingSession``: views per image, the image and random flip / crop-jitter / colour
    variations of its chip (``engine.training.augment``); None: ``FINE_TUNE_VIEWS`` when
    fine-tuning, else 1 (no augmentation)."""

    def __post_init__(self) -> None:
        if self.miner not in MINERS:
            raise ValueError(f"unknown miner {self.miner!r}; choose one of {', '.join(MINERS)}")
        if self.alpha < 0 or self.pool_slack < 0:
            raise ValueError("the margin α and the pool's slack must be 0 or more")
        if self.epochs < 1 or self.pool_per_anchor < 1:
            raise ValueError("epochs and pool triplets per anchor must be 1 or more")
        if self.lr <= 0 or (self.weight_decay is not None and self.weight_decay < 0):
            raise ValueError("the learning rate must be above 0 and the weight decay 0 or more")
        if self.p < 2 or self.k < 2:
            raise ValueError("P and K must be 2 or more: a batch needs two people of two images")
        if self.seed < 0:
            raise ValueError(f"the seed must be 0 or more, got {self.seed}")
        for name in ("held_out", "test_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} is a share of the people: from 0 up to 1, not 1")
        if self.fine_tune not in FINE_TUNE_LEVELS:
            raise ValueError(f"fine-tune 0, 1 or 2 levels of the ResNet, not {self.fine_tune}")
        if self.augment_views is not None and self.augment_views < 1:
            raise ValueError(f"need at least one view per image, got {self.augment_views}")

    @property
    def views(self) -> int:
        """Views per image: ``augment_views``, or its default for ``fine_tune``."""
        if self.augment_views is not None:
            return self.augment_views
        return FINE_TUNE_VIEWS if self.fine_tune else 1

    def weight_decay_for(self, model: nn.Module) -> float:
        """``weight_decay``, or its default for ``model``. AdamW pulls weights towards 0: for a
        ``ResidualProjection`` that is the identity, i.e. the pretrained model, so a head decays
        by ``HEAD_WEIGHT_DECAY``; for the ResNet's own layers 0 is no model at all, so none."""
        from engine.training.projection import ResidualProjection  # torch: only when training

        if self.weight_decay is not None:
            return self.weight_decay
        return HEAD_WEIGHT_DECAY if isinstance(model, ResidualProjection) else 0.0
