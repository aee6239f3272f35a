"""Sampler, head, training loop and checkpoints on synthetic clustered embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelMismatch
from engine.training import (
    BASE_MODEL_ID,
    BatchAllMiner,
    EpochStats,
    PKSampler,
    ResidualProjection,
    TrainingOptions,
    TripletMarginLoss,
    derive_model_id,
    embed_triplet,
    load_checkpoint,
    save_checkpoint,
    train_projection,
)
from engine.training.losses import pairwise_squared_distances


def clustered(n_ids: int = 20, per_id: int = 8, dim: int = 128, seed: int = 0):
    """People differ in dims 0–7 (spread 0.3); dims 8–15 carry person-independent nuisance
    noise (0.5, e.g. pose and light) that swamps them under plain Euclidean distance. A linear
    head can learn to shrink the nuisance dims; the identity head cannot."""
    rng = np.random.default_rng(seed)
    centers = np.zeros((n_ids, dim), np.float32)
    centers[:, :8] = rng.normal(0, 0.3, (n_ids, 8))
    noise = np.full(dim, 0.02, np.float32)
    noise[8:16] = 0.5
    x = centers.repeat(per_id, 0) + rng.normal(0, 1, (n_ids * per_id, dim)) * noise
    return x.astype(np.float32), np.arange(n_ids).repeat(per_id)


def loop_options(**knobs) -> TrainingOptions:
    """``TrainingOptions`` over the loop's former keyword defaults: nobody held out, no decay."""
    return TrainingOptions(**{"held_out": 0.0, "weight_decay": 0.0, **knobs})


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered()


def pair_means(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean squared distance over all same-person and all different-person pairs."""
    d = pairwise_squared_distances(torch.as_tensor(x)).numpy()
    same = labels[:, None] == labels[None, :]
    return float(d[same & ~np.eye(len(x), dtype=bool)].mean()), float(d[~same].mean())


def full_loss(x: np.ndarray, labels: np.ndarray, alpha: float = 0.2) -> float:
    e = torch.as_tensor(x)
    triplets = BatchAllMiner()(e, torch.as_tensor(labels))
    return TripletMarginLoss(alpha).on_indices(e, triplets).loss.item()


# --- sampler ---------------------------------------------------------------------------------


def test_pk_sampler_batches_p_people_with_k_images_each() -> None:
    labels = np.array([0] * 5 + [1] * 2 + [2] * 4 + [3] * 6 + [4] * 1)  # person 4: skipped
    sampler = PKSampler(labels, p=2, k=3, seed=0)
    assert sampler.skipped_people == 1 and len(sampler) == 2
    batches = list(sampler)
    assert len(batches) == 2
    seen = set()
    for batch in batches:
        people, counts = np.unique(labels[batch], return_counts=True)
        assert len(people) == 2 and counts.tolist() == [3, 3]
        seen |= set(people.tolist())
    assert seen == {0, 1, 2, 3}  # every eligible person once per epoch
    # Person 1 has 2 < k images: drawn with replacement; others without.
    for batch in batches:
        for person in set(labels[batch].tolist()) - {1}:
            assert len(set(batch[labels[batch] == person].tolist())) == 3
    again = list(PKSampler(labels, p=2, k=3, seed=0))
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))


def test_pk_sampler_rejects_batches_without_negatives() -> None:
    with pytest.raises(ValueError, match="p must be"):
        PKSampler(np.array([0, 0, 1, 1]), p=1, k=2)
    with pytest.raises(ValueError, match="two people"):
        PKSampler(np.array([0, 0, 1]), p=2, k=2)


# --- head ------------------------------------------------------------------------------------


def test_untrained_head_reproduces_the_base_embeddings_exactly(data) -> None:
    x = torch.as_tensor(data[0])
    assert torch.equal(ResidualProjection(128)(x), x)
    assert np.array_equal(ResidualProjection(128).embed(data[0]), data[0])


def test_siamese_branches_share_one_parameter_set() -> None:
    torch.manual_seed(0)
    model = ResidualProjection(4)
    with torch.no_grad():
        model.linear.weight.normal_()  # away from the identity, so every branch has a gradient
    params = list(model.parameters())
    assert [tuple(t.shape) for t in params] == [(4, 4), (4,)]  # one W, one b: no per-branch copy
    a, p, n = torch.randn(3, 5, 4).unbind()

    def grads(*detach: int) -> list[torch.Tensor]:
        model.zero_grad()
        out = list(embed_triplet(model, a, p, n))
        for i in detach:
            out[i] = out[i].detach()
        TripletMarginLoss(100.0)(*out).loss.backward()  # large α: every triplet active
        return [t.grad.clone() for t in params]

    full = grads()
    only_a, only_p, only_n = grads(1, 2), grads(0, 2), grads(0, 1)
    for branch in (only_a, only_p, only_n):
        assert branch[0].abs().sum() > 0  # the gradient flows from each of A, P and N ...
    for i in range(2):  # ... into the same tensors, where the three contributions add up
        torch.testing.assert_close(full[i], only_a[i] + only_p[i] + only_n[i])


# --- loop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("miner", ["batch-all", "batch-hard", "semi-hard"])
def test_training_lowers_the_loss_and_separates_the_people(data, miner: str) -> None:
    x, y = data
    seen: list[EpochStats] = []
    result = train_projection(
        x,
        y,
        loop_options(alpha=0.2, miner=miner, epochs=5, lr=1e-2, p=8, k=4, seed=0),
        progress=seen.append,
    )
    assert [s.epoch for s in seen] == [1, 2, 3, 4, 5] and seen == result.history
    assert not result.cancelled
    h = result.history
    assert h[-1].mean_d_an - h[-1].mean_d_ap > h[0].mean_d_an - h[0].mean_d_ap
    # Measured afresh on the whole set: the gap widens, and not only by scaling everything up.
    d_ap0, d_an0 = pair_means(x, y)
    d_ap1, d_an1 = pair_means(result.model.embed(x), y)
    assert d_an1 - d_ap1 > d_an0 - d_ap0
    assert d_an1 / d_ap1 > 1.4 * (d_an0 / d_ap0)
    # The loss over every triplet of the set (not only the mined ones, whose loss a semi-hard
    # miner keeps inside (0, α) by construction) falls.
    assert full_loss(result.model.embed(x), y) < 0.8 * full_loss(x, y)


def test_pool_active_fraction_falls_as_training_proceeds(data) -> None:
    x, y = data
    knobs = loop_options(alpha=0.2, miner="pool", epochs=5, lr=1e-2, p=8, k=4, seed=0)
    result = train_projection(x, y, knobs)
    fractions = [s.pool_active_fraction for s in result.history]
    assert fractions[0] is not None and fractions[-1] < 0.5 * fractions[0]
    assert result.history[-1].mean_d_an - result.history[-1].mean_d_ap > (
        result.history[0].mean_d_an - result.history[0].mean_d_ap
    )


def test_training_is_deterministic_for_a_seed(data) -> None:
    x, y = data
    knobs = loop_options(miner="batch-hard", epochs=2, lr=1e-2, seed=3)
    runs = [train_projection(x, y, knobs) for _ in range(2)]
    other = train_projection(x, y, loop_options(miner="batch-hard", epochs=2, lr=1e-2, seed=4))
    first, second = (r.model.state_dict() for r in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["linear.weight"], other.model.state_dict()["linear.weight"])


def test_should_stop_cancels_within_one_batch(data) -> None:
    x, y = data
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 7  # batches per epoch: 20 people // 8 = 2, so mid-epoch 4

    knobs = loop_options(miner="semi-hard", epochs=50, p=8, k=4)
    result = train_projection(x, y, knobs, should_stop=should_stop)
    assert result.cancelled
    assert result.batches_run == 7 and calls == 8
    assert len(result.history) == 3  # the unfinished fourth epoch is not reported


def test_unknown_miner_is_rejected(data) -> None:
    with pytest.raises(ValueError, match="unknown miner"):
        train_projection(*data, loop_options(miner="hardest", epochs=1))


# --- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_round_trip_and_model_id(tmp_path: Path, data) -> None:
    x, y = data
    result = train_projection(x, y, loop_options(miner="batch-hard", epochs=1, lr=1e-2, seed=0))
    path = tmp_path / "head.pt"
    meta = save_checkpoint(path, result.model, result.metadata(data="synthetic-20x8"))

    assert meta["model_id"].startswith(f"{BASE_MODEL_ID}+head-")
    assert len(meta["model_id"]) == len(BASE_MODEL_ID) + len("+head-") + 8
    sidecar = json.loads(Path(f"{path}.json").read_text())
    assert sidecar["model_id"] == meta["model_id"] and sidecar["miner"] == "batch-hard"
    assert set(sidecar) >= {"base_model_id", "data", "alpha", "epochs", "metrics", "created"}
    assert sidecar["metrics"]["epoch"] == 1

    loaded = load_checkpoint(path)
    assert loaded.model_id == meta["model_id"]
    assert np.array_equal(loaded.model.embed(x), result.model.embed(x))

    # Different weights, different id; and no head shares the base model's id.
    untrained = ResidualProjection(128)
    assert derive_model_id(BASE_MODEL_ID, untrained) != meta["model_id"]
    assert derive_model_id(BASE_MODEL_ID, untrained) != BASE_MODEL_ID


def test_loading_a_head_of_another_base_model_raises(tmp_path: Path) -> None:
    path = tmp_path / "vgg-head.pt"
    metadata = {"base_model_id": "vgg-face", "data": "x", "alpha": 0.2, "miner": "pool"}
    save_checkpoint(path, ResidualProjection(8), {**metadata, "epochs": 0, "metrics": {}})
    with pytest.raises(ModelMismatch, match="vgg-face"):
        load_checkpoint(path)
    assert load_checkpoint(path, base_model_id="vgg-face").metadata["base_model_id"] == "vgg-face"
