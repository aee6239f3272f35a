"""Early stopping on held-out people: pick the epoch that verifies unseen people best.

A head trained on a few thousand faces can fit its training people and lose accuracy on new
ones (LFW's pairsDevTest people are disjoint from peopleDevTrain). So a share of the training
*people* (not images) is held out; after every epoch, and before the first, their pairs are
scored, and training keeps the weights of the best epoch. Epoch 0 is the untrained head — the
pretrained model itself — so a run that cannot beat it gives it back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.evaluation.metrics import equal_error_rate, roc_auc, tar_at_far
from engine.evaluation.pair_sets import genuine_pairs, sample_impostor_pairs

MIN_PEOPLE_TO_HOLD_OUT = 4
"""The one rule for holding people out, for picking the epoch and for comparing before and
after alike: a split sets at least 2 people aside (so their pairs hold genuine and impostor
pairs) and leaves at least 2 to train on (a triplet's negative is another person), so it needs
4 people. Fewer, and nobody is held out: every person trains and the last epoch is kept."""


def share_to_hold_out(people: int, share: float) -> float:
    """``share`` of ``people`` to hold out, or 0 when they are fewer than
    ``MIN_PEOPLE_TO_HOLD_OUT``."""
    return share if people >= MIN_PEOPLE_TO_HOLD_OUT else 0.0


def split_people(
    labels: np.ndarray, held_out: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out) with a ``held_out`` share of the people (at least 2) aside."""
    labels = np.asarray(labels).reshape(-1)
    people = np.unique(labels)
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must lie between 0 and 1, got {held_out}")
    count = max(2, round(held_out * len(people)))
    if len(people) - count < 2:
        raise ValueError(f"{len(people)} people are too few to hold {held_out:.0%} of them out")
    chosen = np.random.default_rng(seed).choice(people, size=count, replace=False)
    aside = np.isin(labels, chosen)
    return np.flatnonzero(~aside), np.flatnonzero(aside)


@dataclass(frozen=True)
class ValidationScore:
    auc: float
    """ROC AUC of the held-out pairs: threshold-free, smooth, so it ranks epochs well."""
    eer: float
    tar_at_far_1e2: float


class HeldOutPairs:
    """Every genuine pair and a fixed sample of impostor pairs of the held-out images."""

    def __init__(
        self, embeddings: np.ndarray, labels: np.ndarray, impostors: int = 20_000, seed: int = 0
    ) -> None:
        _, person_of = np.unique(np.asarray(labels).reshape(-1), return_inverse=True)
        genuine_a, genuine_b = genuine_pairs(person_of)
        impostor_a, impostor_b, _ = sample_impostor_pairs(person_of, impostors, seed)
        if len(genuine_a) == 0 or len(impostor_a) == 0:
            raise ValueError("held-out people need genuine and impostor pairs")
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.a = np.concatenate([genuine_a, impostor_a])
        self.b = np.concatenate([genuine_b, impostor_b])
        self.same = np.concatenate([np.ones(len(genuine_a), bool), np.zeros(len(impostor_a), bool)])

    def score(self, projected: np.ndarray) -> ValidationScore:
        """Score ``projected`` (the held-out embeddings through the current head)."""
        distances = np.linalg.norm(projected[self.a] - projected[self.b], axis=1)
        tar = tar_at_far(distances, self.same, 1e-2)
        return ValidationScore(
            auc=roc_auc(distances, self.same),
            eer=equal_error_rate(distances, self.same)[0],
            tar_at_far_1e2=float(tar.tar),
        )
