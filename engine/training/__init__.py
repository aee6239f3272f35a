"""Siamese training of a projection head with triplet loss and hard-triplet mining.

A loss, miners, a sampler, a head and a loop — each usable and testable alone, in the manner of
pytorch-metric-learning — with their knobs in ``TrainingOptions``; ``TrainingSession``
(``engine.training.session``) runs them as the Train page and ``cli.py train`` both do.

``TrainingOptions`` and ``MINERS`` import without torch; every other name below is imported
from its module when first asked for, so reading the options starts no network.
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.training.options import MINERS, TrainingOptions

_MODULE_OF = {
    "EpochStats": "loop",
    "TrainResult": "loop",
    "train_projection": "loop",
    "TripletLossOutput": "losses",
    "TripletMarginLoss": "losses",
    "Triplets": "losses",
    "BatchAllMiner": "miners",
    "BatchHardMiner": "miners",
    "SemiHardMiner": "miners",
    "TripletMiner": "miners",
    "TripletPool": "miners",
    "make_miner": "miners",
    "BASE_MODEL_ID": "projection",
    "ResidualProjection": "projection",
    "TrainedProjection": "projection",
    "derive_model_id": "projection",
    "embed_triplet": "projection",
    "load_checkpoint": "projection",
    "save_checkpoint": "projection",
    "PKSampler": "sampler",
}
"""The torch side of the package: each name and the ``engine.training`` module it lives in."""

__all__ = ["MINERS", "TrainingOptions", *_MODULE_OF]


def __getattr__(name: str) -> Any:
    """A name of ``_MODULE_OF``, imported from its module on first use (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
