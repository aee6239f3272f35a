"""The training loop: P×K batches → head → miner → triplet loss → Adam step.

Each piece (sampler, miner, loss, head) is its own object, so the loop reads top to bottom like
the pytorch-metric-learning examples. The loop reports through callbacks only: ``progress``
after each epoch, ``should_stop`` before each batch, so a page can cancel within one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from engine.training.losses import TripletMarginLoss, pairwise_squared_distances
from engine.training.miners import TripletPool, make_miner
from engine.training.options import TrainingOptions
from engine.training.projection import BASE_MODEL_ID, ResidualProjection, embed_triplet
from engine.training.sampler import PKSampler
from engine.training.validation import HeldOutPairs, ValidationScore, split_people


@dataclass(frozen=True)
class EpochStats:
    """One epoch, averaged over its batches.

    ``loss`` and ``active_fraction`` are over the mined triplets; ``mean_d_ap`` / ``mean_d_an``
    are mean squared distances over every same-person / different-person pair in the batches,
    independent of the miner (for "pool": over the pool's triplets, scored at the epoch start).
    ``pool_active_fraction``: share of the pool still fed ("pool" only).
    """

    epoch: int
    loss: float
    active_fraction: float
    mean_d_ap: float
    mean_d_an: float
    triplets: int
    pool_active_fraction: float | None = None
    held_out_auc: float | None = None
    held_out_eer: float | None = None
    """ROC AUC / EER of the held-out people's pairs after this epoch (with ``held_out``)."""


@dataclass
class TrainResult:
    model: torch.nn.Module
    alpha: float
    miner: str
    """The margin and miner it was trained with (``TrainingOptions``)."""
    base_model_id: str = BASE_MODEL_ID
    history: list[EpochStats] = field(default_factory=list)
    cancelled: bool = False
    batches_run: int = 0
    baseline: ValidationScore | None = None
    """The held-out score of the untrained head (the pretrained model itself)."""
    best_epoch: int | None = None
    """With held-out people: the epoch whose weights ``model`` holds (0 = untrained)."""

    def metadata(self, data: str) -> dict:
        """Checkpoint metadata for ``save_checkpoint``; ``data`` names the training set."""
        last = self.history[-1] if self.history else None
        return {
            "base_model_id": self.base_model_id,
            "data": data,
            "alpha": self.alpha,
            "miner": self.miner,
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "metrics": {} if last is None else asdict(last),
        }


def _pair_means(out: Tensor, labels: Tensor) -> tuple[float, float]:
    with torch.no_grad():
        d = pairwise_squared_distances(out.detach())
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        d_ap = float(d[positive].mean()) if positive.any() else float("nan")
        d_an = float(d[~same].mean()) if (~same).any() else float("nan")
    return d_ap, d_an


def train_projection(
    embeddings: np.ndarray,
    labels: np.ndarray,
    options: TrainingOptions,
    *,
    model: torch.nn.Module | None = None,
    views: bool = False,
    device: torch.device | str = "cpu",
    base_model_id: str = BASE_MODEL_ID,
    progress: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train a ``ResidualProjection`` on frozen (N, D) embeddings with integer person ``labels``.

    ``options`` holds the knobs (``TrainingOptions``). Its ``miner`` picks the triplets:
    "batch-all" (all margin-violating triplets of a P×K batch), "batch-hard", "semi-hard"
    (FaceNet), or "pool" (a fixed ``TripletPool`` of ``pool_per_anchor`` random triplets per
    sample, rescored each epoch; its active triplets are fed in batches of ``p * k``).
    Deterministic for a given ``seed`` on one device. ``held_out`` > 0 sets that share of the
    people aside (see ``engine.training.validation``): they are scored before training and after
    each epoch, and the returned model holds the weights of the best epoch by their ROC AUC —
    epoch 0, the untrained head, included.
    ``model``: train this module instead of a new ``ResidualProjection`` on ``embeddings`` (any
    (N, ...) inputs it takes, e.g. ``engine.training.finetune.ResNetTop`` on trunk features;
    it needs an ``embed(np.ndarray) -> np.ndarray`` for the held-out check).
    ``views``: ``embeddings`` is (N, V, ...), V augmented views of each sample
    (``engine.training.augment``); every batch takes one view per sample at random, while the
    held-out check and the pool's scoring use view 0, the sample as it is.
    Cancelling (``should_stop()`` true) returns the model as it is, ``cancelled=True``; the
    unfinished epoch is not in ``history``.
    """
    x_all = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=device)
    y_all = torch.as_tensor(np.asarray(labels).reshape(-1), device=device).long()
    if (model is None and x_all.ndim != 2 + views) or len(x_all) != len(y_all):
        raise ValueError(
            f"embeddings (N, D) and labels (N,) disagree: {x_all.shape}, {y_all.shape}"
        )

    alpha, seed, size = options.alpha, options.seed, options.p * options.k
    torch.manual_seed(seed)
    if model is None:
        model = ResidualProjection(x_all.shape[-1])
    model = model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = options.weight_decay_for(model)
    optimizer = torch.optim.AdamW(trainable, lr=options.lr, weight_decay=decay)
    loss_fn = TripletMarginLoss(alpha)
    result = TrainResult(model, alpha=alpha, miner=options.miner, base_model_id=base_model_id)

    held_out_pairs = None
    if options.held_out > 0:
        train_idx, held_idx = split_people(labels, options.held_out, seed)
        held = np.asarray(embeddings)[held_idx]
        held_out_pairs = HeldOutPairs(held[:, 0] if views else held, labels[held_idx], seed=seed)
        x_all, y_all = x_all[train_idx], y_all[train_idx]
        labels = np.asarray(labels).reshape(-1)[train_idx]
        result.baseline = held_out_pairs.score(model.embed(held_out_pairs.embeddings))
        result.best_epoch = 0
        best_auc = result.baseline.auc
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    sampler = PKSampler(labels, options.p, options.k, seed=seed)
    pooled = options.miner == "pool"
    batch_miner = None if pooled else make_miner(options.miner, alpha)
    pool = (
        TripletPool.random(y_all.cpu(), options.pool_per_anchor, alpha, options.pool_slack, seed)
        if pooled
        else None
    )
    shuffle = torch.Generator().manual_seed(seed)
    view_rng = torch.Generator().manual_seed(seed + 1)

    def pick(idx: Tensor) -> Tensor:
        """The inputs of samples ``idx``: with ``views``, one random view of each."""
        if not views:
            return x_all[idx]
        chosen = torch.randint(0, x_all.shape[1], (len(idx),), generator=view_rng)
        return x_all[idx, chosen.to(x_all.device)]

    for epoch in range(1, options.epochs + 1):
        losses: list[float] = []
        actives: list[float] = []
        d_aps: list[float] = []
        d_ans: list[float] = []
        n_triplets = 0
        model.train()

        if pool is not None:
            with torch.no_grad():
                pool.rescore(model(x_all[:, 0] if views else x_all))
            a, pos, n = pool.active_triplets()
            order = torch.randperm(len(a), generator=shuffle)
            batches = [
                (a[order[i : i + size]], pos[order[i : i + size]], n[order[i : i + size]])
                for i in range(0, len(a), size)
            ]
        else:
            batches = list(sampler)

        for batch in batches:
            if should_stop is not None and should_stop():
                result.cancelled = True
                if held_out_pairs is not None:
                    model.load_state_dict(best_state)
                model.eval()
                return result
            if pool is not None:
                ia, ip, inn = (t.to(device) for t in batch)
                out_a, out_p, out_n = embed_triplet(model, pick(ia), pick(ip), pick(inn))
                loss, active = loss_fn(out_a, out_p, out_n)
                count = len(ia)
            else:
                idx = torch.as_tensor(batch, device=device)
                out, y = model(pick(idx)), y_all[idx]
                triplets = batch_miner(out, y)
                loss, active = loss_fn.on_indices(out, triplets)
                count = len(triplets[0])
            optimizer.zero_grad(set_to_none=True)
            if count:
                loss.backward()
                optimizer.step()
            result.batches_run += 1
            losses.append(float(loss.detach()))
            actives.append(active)
            n_triplets += count
            if pool is None:
                d_ap, d_an = _pair_means(out, y)
                d_aps.append(d_ap)
                d_ans.append(d_an)

        if pool is not None:
            # Pool mode: distances over the pool's triplets, so an epoch that feeds none has them.
            d_aps, d_ans = [float(pool.d_ap.mean())], [float(pool.d_an.mean())]
        stats = EpochStats(
            epoch=epoch,
            loss=float(np.mean(losses)) if losses else 0.0,
            active_fraction=float(np.mean(actives)) if actives else 0.0,
            mean_d_ap=float(np.nanmean(d_aps)) if d_aps else float("nan"),
            mean_d_an=float(np.nanmean(d_ans)) if d_ans else float("nan"),
            triplets=n_triplets,
            pool_active_fraction=pool.active_fraction if pool is not None else None,
        )
        if held_out_pairs is not None:
            model.eval()
            score = held_out_pairs.score(model.embed(held_out_pairs.embeddings))
            stats = replace(stats, held_out_auc=score.auc, held_out_eer=score.eer)
            if score.auc > best_auc:
                best_auc, result.best_epoch = score.auc, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        result.history.append(stats)
        if progress is not None:
            progress(stats)
    if held_out_pairs is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
