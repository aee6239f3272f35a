"""Siamese training of a projection head with triplet loss and hard-triplet mining (issue 5).

A loss, miners, a sampler, a head and a loop — each usable and testable alone, in the manner of
pytorch-metric-learning.
"""

from engine.training.head import (
    BASE_MODEL_ID,
    LoadedHead,
    ProjectionHead,
    derive_model_id,
    embed_triplet,
    load_checkpoint,
    save_checkpoint,
)
from engine.training.loop import MINERS, EpochStats, TrainResult, make_miner, train_head
from engine.training.losses import TripletLossOutput, TripletMarginLoss, Triplets
from engine.training.miners import (
    BatchAllMiner,
    BatchHardMiner,
    SemiHardMiner,
    TripletMiner,
    TripletPool,
)
from engine.training.sampler import PKSampler

__all__ = [
    "BASE_MODEL_ID",
    "MINERS",
    "BatchAllMiner",
    "BatchHardMiner",
    "EpochStats",
    "LoadedHead",
    "PKSampler",
    "ProjectionHead",
    "SemiHardMiner",
    "TrainResult",
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
    "train_head",
]
