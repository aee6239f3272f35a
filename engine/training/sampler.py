"""P×K batch sampling: P people, K images each, so every batch holds positives and negatives.

Mirrors pytorch-metric-learning's ``MPerClassSampler`` (and the P×K batches of Hermans et al.
2017); ours yields index arrays directly and is seeded, so a training run is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class PKSampler:
    """Yields batches of ``p * k`` dataset indices: ``k`` images of each of ``p`` people.

    People with a single image are skipped (they can never be a positive pair). People with
    2 ≤ n < k images are sampled with replacement, so they still fill their ``k`` slots (the
    duplicate pairs have distance 0 and add no loss beyond the margin). Each epoch shuffles the
    people and splits them into groups of ``p``; a last group smaller than ``p`` is dropped,
    unless fewer than ``p`` people exist at all, then every epoch is one batch of all of them.
    """

    def __init__(self, labels: np.ndarray, p: int, k: int, seed: int = 0) -> None:
        if p < 2:
            raise ValueError(f"p must be at least 2 (negatives come from other people), got {p}")
        if k < 2:
            raise ValueError(f"k must be at least 2 (positives need two images), got {k}")
        labels = np.asarray(labels).reshape(-1)
        people, inverse = np.unique(labels, return_inverse=True)
        by_person = [np.flatnonzero(inverse == i) for i in range(len(people))]
        self.groups = [idx for idx in by_person if len(idx) >= 2]
        if len(self.groups) < 2:
            raise ValueError("need at least two people with two or more images each")
        self.skipped_people = len(people) - len(self.groups)
        self.p = min(p, len(self.groups))
        self.k = k
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.groups) // self.p

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self._rng.permutation(len(self.groups))
        for start in range(0, len(self) * self.p, self.p):
            batch = [
                self._rng.choice(
                    self.groups[person], size=self.k, replace=len(self.groups[person]) < self.k
                )
                for person in order[start : start + self.p]
            ]
            yield np.concatenate(batch)
