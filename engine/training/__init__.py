"""Siamese training of a projection head with triplet loss and hard-triplet mining.

A loss, miners, a sampler, a head and a loop — each usable and testable alone, in the manner of
pytorch-metric-learning — with their knobs in ``TrainingOptions``; ``TrainingSession``
(``engine.training.session``) runs them as the Train page and ``cli.py train`` both do.
"""

from engine.training.loop import EpochStats, TrainResult, train_projection
from engine.training.losses import TripletLossOutput, TripletMarginLoss, Triplets
from engine.training.miners import (
    MINERS,
    BatchAllMiner,
    BatchHardMiner,
    SemiHardMiner,
    TripletMiner,
    TripletPool,
    make_miner,
)
from engine.training.options import TrainingOptions
from engine.training.projection import (
    BASE_MODEL_ID,
    ResidualProjection,
    TrainedProjection,
    derive_model_id,
    embed_triplet,
    load_checkpoint,
    save_checkpoint,
)
from engine.training.sampler import PKSampler

__all__ = [
    "BASE_MODEL_ID",
    "MINERS",
    "BatchAllMiner",
    "BatchHardMiner",
    "EpochStats",
    "PKSampler",
    "ResidualProjection",
    "SemiHardMiner",
    "TrainResult",
    "TrainedProjection",
    "TrainingOptions",
    "TripletLossOutput",
    "TripletMarginLoss",
    "TripletMiner",
    "TripletPool",
    "Triplets",
    "derive_model_id",
    "embed_triplet",
    "load_checkpoint",
    "make_miner",
    "save_checkpoint",
    "train_projection",
]
