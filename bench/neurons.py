"""Neuron indexing cost: images/s and peak memory, against the plain forward pass.

    python -m bench.neurons --images ../shared/data/lfw [--limit 1000] [--vgg-limit N]
        [--vgg-layer relu4_3] [--face-layer res3c] [--models vgg16 face]
        [--json bench/results/neurons.json]

For each backbone (VGG16 at one layer, the face ResNet at one layer) two runs over the same
images, each in a fresh process so its peak memory is its own:

- forward: decode, ``Backbone.prepare``, batch, forward to the layer — nothing kept;
- index: ``build_index`` (the same, plus per-channel spatial max, top-k merge, mean-map sum
  and checkpoints to disk).

The ratio index/forward is the indexing overhead; peak RSS (CPU) or peak allocated CUDA memory
should not grow with the number of images (top-k is O(channels · k)).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _peak_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker(spec: dict) -> dict:
    """One measurement, run in its own process (``--worker JSON``)."""
    from engine.images import load_image
    from engine.neurons.backbones import load_backbone
    from engine.neurons.index import build_index, list_images

    device = "cuda" if torch.cuda.is_available() else "cpu"
    backbone = load_backbone(spec["model"], device=device)
    files = list_images(spec["images"])[: spec["limit"]]
    layer, batch_size = spec["layer"], spec["batch_size"]
    with torch.inference_mode():  # warm-up: one batch, not timed
        x = backbone.to_tensor(np.stack([backbone.prepare(load_image(f)) for f in files[:2]]))
        backbone(x, [layer])
    loaded_mb = _peak_mb()
    start = time.perf_counter()
    if spec["mode"] == "forward":
        for i in range(0, len(files), batch_size):
            batch = np.stack([backbone.prepare(load_image(f)) for f in files[i : i + batch_size]])
            with torch.inference_mode():
                backbone(backbone.to_tensor(batch), [layer])
        if device == "cuda":
            torch.cuda.synchronize()
    else:
        with tempfile.TemporaryDirectory() as out:
            build_index(
                backbone,
                spec["images"],
                out,
                [layer],
                k=spec["k"],
                batch_size=batch_size,
                limit=spec["limit"],
            )
    seconds = time.perf_counter() - start
    return {
        "model": spec["model"],
        "layer": layer,
        "mode": spec["mode"],
        "images": len(files),
        "seconds": seconds,
        "images_per_s": len(files) / seconds,
        "peak_mb": _peak_mb(),
        "after_load_mb": loaded_mb,
        "device": device,
        "threads": torch.get_num_threads(),
    }


def measure(spec: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.neurons", "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, help="folder of images (e.g. LFW)")
    parser.add_argument("--limit", type=int, default=1000, help="images per run")
    parser.add_argument("--vgg-limit", type=int, help="images per VGG16 run (default --limit)")
    parser.add_argument("--vgg-layer", default="relu4_3")
    parser.add_argument("--face-layer", default="res3c")
    parser.add_argument("--models", nargs="+", choices=["vgg16", "face"], default=["vgg16", "face"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--top-k", type=int, default=9)
    parser.add_argument("--json", type=Path, default=Path("bench/results/neurons.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.images is None:
        parser.error("--images is required")
    rows = []
    for model, layer, limit in (
        ("vgg16", args.vgg_layer, args.vgg_limit or args.limit),
        ("face", args.face_layer, args.limit),
    ):
        if model not in args.models:
            continue
        for mode in ("forward", "index"):
            spec = {"model": model, "layer": layer, "mode": mode, "limit": limit}
            spec |= {"images": str(args.images.resolve()), "batch_size": args.batch_size}
            rows.append(measure(spec | {"k": args.top_k}))
    print(
        f"{rows[0]['device']}, {rows[0]['threads']} threads, torch {torch.__version__}, "
        f"batch {args.batch_size}, top-k {args.top_k}"
    )
    header = f"{'model':7s} {'layer':8s} {'run':8s} {'images':>6s} {'s':>8s} {'images/s':>9s}"
    print(f"{header} {'peak MB':>8s} {'after load MB':>13s} {'time ratio':>10s}")
    for forward, index in zip(rows[::2], rows[1::2], strict=True):
        for row in (forward, index):
            ratio = row["seconds"] / forward["seconds"]
            print(
                f"{row['model']:7s} {row['layer']:8s} {row['mode']:8s} {row['images']:6d} "
                f"{row['seconds']:8.1f} {row['images_per_s']:9.1f} {row['peak_mb']:8.0f} "
                f"{row['after_load_mb']:13.0f} {ratio:9.2f}×"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
