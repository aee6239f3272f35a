"""Training speed on CPU: the projection head per miner, and fine-tuning the face ResNet's last
level.

    python -m bench.train_speed [--json OUT] [--epochs 3]

- head: ``train_projection`` on synthetic 128-d unit descriptors (200 identities × 8 images, each
  identity a random centre plus 3× as much noise, so margins are violated), P×K = 8×4 batches;
  triplets/s counts the triplets the loss saw (mined or, for "pool", fed), so a miner that
  keeps few triplets looks slow here; batches/s is the other view.
- resnet last level: forward + backward of level 0 and the fc layer of a ``FaceResNet`` (random
  weights: the cost does not depend on them) over 150×150 chips at batch 32, the trunk below
  frozen and run without gradients; triplets/s = batch / 3 per step (A, P and N are one batch).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from engine.training import MINERS, TrainingOptions, TripletMarginLoss, train_projection


def synthetic(people: int = 200, per_person: int = 8, dim: int = 128, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    x = np.repeat(centres, per_person, axis=0) + 3.0 * rng.normal(size=(people * per_person, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(people), per_person)


def bench_projection(epochs: int) -> list[dict]:
    x, y = synthetic()
    # The loop alone: no held-out check per epoch, no weight decay.
    plain = TrainingOptions(p=8, k=4, seed=0, held_out=0.0, weight_decay=0.0)
    train_projection(x[:64], y[:64], replace(plain, epochs=1))  # warm-up
    rows = []
    for miner in MINERS:
        start = time.perf_counter()
        result = train_projection(x, y, replace(plain, miner=miner, epochs=epochs))
        wall = time.perf_counter() - start
        triplets = sum(h.triplets for h in result.history)
        rows.append(
            {
                "what": f"head, {miner}",
                "triplets": triplets,
                "seconds": wall,
                "triplets_per_s": triplets / wall,
                "batches_per_s": result.batches_run / wall,
                "final_loss": result.history[-1].loss,
            }
        )
    return rows


def bench_resnet_last_level(batch: int = 32, steps: int = 3) -> dict:
    from engine.faces.resnet import FaceResNet

    net = FaceResNet().train()
    params = [*net.level0.parameters(), *net.fc.parameters()]
    optimizer = torch.optim.SGD(params, lr=1e-4)
    chips = torch.rand(batch, 3, 150, 150)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            features = torch.relu(net.stem_pool(net.stem(chips)))
            for level in (net.level4, net.level3, net.level2, net.level1):
                features = level(features)
        return net.fc(net.level0(features).mean(dim=(2, 3)))

    return _time_triplet_steps(
        f"resnet level 0 + fc, 150×150, batch {batch}", forward, optimizer, batch, steps
    )


def _time_triplet_steps(
    what: str,
    forward: Callable[[], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batch: int,
    steps: int,
) -> dict:
    """Time ``steps`` triplet-loss steps; the batch's thirds are A, P and N."""
    loss_fn = TripletMarginLoss(0.2)
    third = batch // 3

    def step() -> None:
        out = forward()
        loss, _ = loss_fn(out[:third], out[third : 2 * third], out[2 * third : 3 * third])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    wall = time.perf_counter() - start
    return {
        "what": what,
        "triplets": third * steps,
        "seconds": wall,
        "triplets_per_s": third * steps / wall,
        "batches_per_s": steps / wall,
        "final_loss": None,
    }


def bench_cached_trunk(levels: int, batch: int = 32, steps: int = 20) -> dict:
    """What ``train --fine-tune`` runs: the trunk's features computed once, per step only the
    top (the last ``levels`` levels + fc) forward and backward on those features."""
    from engine.faces.resnet import FaceResNet
    from engine.training.finetune import ResNetTop

    net = FaceResNet()
    top = ResNetTop(net, levels).train()
    size = {1: (256, 4, 4), 2: (128, 8, 8)}[levels]
    features = torch.rand(batch, *size)
    optimizer = torch.optim.AdamW([p for p in top.parameters() if p.requires_grad], lr=1e-4)
    return _time_triplet_steps(
        f"resnet last {levels} level(s) + fc, cached trunk",
        lambda: top(features),
        optimizer,
        batch,
        steps,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the rows as JSON")
    parser.add_argument("--epochs", type=int, default=3, help="head epochs per miner")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    rows = [
        *bench_projection(args.epochs),
        bench_resnet_last_level(),
        bench_cached_trunk(1),
        bench_cached_trunk(2),
    ]
    print(f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'what':44s} {'triplets':>10s} {'s':>7s} {'triplets/s':>12s} {'batches/s':>10s}")
    for row in rows:
        print(
            f"{row['what']:44s} {row['triplets']:10,d} {row['seconds']:7.2f} "
            f"{row['triplets_per_s']:12,.0f} {row['batches_per_s']:10.1f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"device": "cpu", "threads": torch.get_num_threads(), "rows": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
