"""Each miner picks exactly the triplets worked out by hand on 1-D embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.training.miners import BatchAllMiner, BatchHardMiner, SemiHardMiner, TripletPool

# Person 0 at x = 0, 1, 3; person 1 at x = 2.5, 10 (squared distances are easy to read off).
X = torch.tensor([[0.0], [1.0], [3.0], [2.5], [10.0]])
Y = torch.tensor([0, 0, 0, 1, 1])

# Anchor 0 (x=0, person 0), positive 1 (x=1, d=1); negatives of other people:
# 2 at x=1.2 (d=1.44) and 3 at x=-1.4 (d=1.96) are semi-hard for α=1.5 (window 1 < d < 2.5),
# 4 at x=0.5 (d=0.25) is hard, 5 at x=3 (d=9) is easy.
X_SEMI = torch.tensor([[0.0], [1.0], [1.2], [-1.4], [0.5], [3.0]])
Y_SEMI = torch.tensor([0, 0, 1, 2, 3, 4])


def as_set(triplets: tuple[torch.Tensor, ...]) -> set[tuple[int, int, int]]:
    assert all(t.dtype == torch.long for t in triplets)
    return set(zip(*(t.tolist() for t in triplets), strict=True))


def test_batch_all_returns_every_valid_triplet() -> None:
    got = as_set(BatchAllMiner()(X, Y))
    # Person 0: 3 anchors × 2 positives × 2 negatives; person 1: 2 × 1 × 3.
    assert len(got) == 12 + 6
    assert all(Y[a] == Y[p] and a != p and Y[n] != Y[a] for a, p, n in got)


def test_batch_all_only_violating_keeps_the_non_zero_loss_triplets() -> None:
    got = as_set(BatchAllMiner(margin=1.0, only_violating=True)(X, Y))
    assert got == {
        (0, 2, 3),  # 9 − 6.25 + 1 > 0
        (1, 2, 3),  # 4 − 2.25 + 1 > 0
        (2, 0, 3),
        (2, 1, 3),
        (3, 4, 0),
        (3, 4, 1),
        (3, 4, 2),
        (4, 3, 2),  # 56.25 − 49 + 1 > 0; negatives 0 and 1 (d = 100, 81) satisfy the margin
    }


def test_batch_hard_picks_farthest_positive_and_nearest_negative() -> None:
    a, p, n = BatchHardMiner()(X, Y)
    assert a.tolist() == [0, 1, 2, 3, 4]
    assert p.tolist() == [2, 2, 0, 4, 3]
    assert n.tolist() == [3, 3, 3, 2, 2]


def test_batch_hard_skips_anchors_without_positive() -> None:
    a, p, n = BatchHardMiner()(X_SEMI, Y_SEMI)
    assert as_set((a, p, n)) == {(0, 1, 4), (1, 0, 2)}


def test_semi_hard_hardest_only_takes_the_nearest_negative_in_the_window() -> None:
    assert as_set(SemiHardMiner(margin=1.5)(X_SEMI, Y_SEMI)) == {(0, 1, 2)}


def test_semi_hard_all_takes_every_negative_in_the_window() -> None:
    got = as_set(SemiHardMiner(margin=1.5, hardest_only=False)(X_SEMI, Y_SEMI))
    assert got == {(0, 1, 2), (0, 1, 3)}


def test_semi_hard_with_no_candidates_returns_empty_long_tensors() -> None:
    a, p, n = SemiHardMiner(margin=0.01)(X_SEMI, Y_SEMI)
    assert len(a) == len(p) == len(n) == 0 and a.dtype == torch.long


def test_pool_retires_triplets_satisfied_with_room_to_spare() -> None:
    # d(a,n) − d(a,p): 3 (retired), 1.2 (loss 0 but within α + slack: stays), 0 (active).
    emb = torch.tensor([[0.0], [1.0], [2.0], [0.0], [1.0], [np.sqrt(2.2)], [0.0], [1.0], [1.0]])
    pool = TripletPool(
        (torch.tensor([0, 3, 6]), torch.tensor([1, 4, 7]), torch.tensor([2, 5, 8])),
        margin=1.0,
        slack=0.5,
    )
    assert pool.rescore(emb) == pytest.approx(2 / 3)
    assert pool.active.tolist() == [False, True, True]
    assert pool.losses[1].item() == 0.0
    a, p, n = pool.active_triplets()
    assert a.tolist() == [3, 6] and p.tolist() == [4, 7] and n.tolist() == [5, 8]
    # Move the last negative away and spread everything out: all satisfied with room to spare
    # (a retired triplet is rescored too, and a callable works as well as a tensor).
    moved = emb.clone()
    moved[8] = 5.0
    assert pool.rescore(lambda: moved * 10) == 0.0


def test_random_pool_draws_valid_triplets_reproducibly() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2])  # person 2 has no positive: never an anchor
    pool = TripletPool.random(labels, per_anchor=3, seed=1)
    assert len(pool) == 5 * 3
    assert all(
        labels[a] == labels[p] and a != p and labels[n] != labels[a]
        for a, p, n in as_set(pool.triplets)
    )
    again = TripletPool.random(labels, per_anchor=3, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(pool.triplets, again.triplets, strict=True))
