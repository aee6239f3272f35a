"""Style transfer speed: seconds per optimiser step, time to a target loss, fast preview.

    python -m bench.style [--content IMG] [--style IMG] [--steps 300] [--size 512]
                          [--coarse-steps N] [--json bench/results/style.json]

In one run:
1. Seconds per L-BFGS step at 256 and 512 px, naive (whole VGG16 stack run, C's and S's targets
   recomputed every step) vs ours (network cut after relu5_1, targets computed once).
2. Time to the loss that ``--steps`` single-scale steps reach at ``--size``: the naive single-scale
   run sets the target J*; our best (coarse to fine over three scales, ``--coarse-steps``
   (default ``--steps`` / 2) steps at each coarser one, cached targets, truncated network) runs
   at full size until J <= J*. The ratio is ours / single-scale (the issue's target: <= 0.5).
   Both start from the content image with the same α and β; both times include computing the
   targets.
3. The fast preview's milliseconds per image (median of 10, after a warm-up).

Defaults: scikit-image's astronaut (content) and coffee (style). The machine is shared and noisy:
compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from engine.backbones.vgg import VGGFeatures
from engine.images import load_image
from engine.style import StepLosses, StyleOptions, stylize
from engine.style.fast import FastStylizer
from engine.style.transfer import default_beta, output_shape


def default_images() -> tuple[np.ndarray, np.ndarray, str, str]:
    from skimage import data

    return data.astronaut(), data.coffee(), "skimage astronaut", "skimage coffee"


def seconds_per_step(
    network: VGGFeatures,
    content: np.ndarray,
    style: np.ndarray,
    size: int,
    *,
    naive: bool,
    steps: int,
) -> float:
    """Mean seconds of ``steps`` L-BFGS steps after the first (which also computes targets)."""
    options = StyleOptions(size=size, steps=steps + 1, cache_targets=not naive, truncate=not naive)
    result = stylize(content, style, options, network=network)
    times = [h.seconds for h in result.history]
    return (times[-1] - times[0]) / steps


def time_to_target(
    network: VGGFeatures,
    content: np.ndarray,
    style: np.ndarray,
    size: int,
    steps: int,
    coarse_steps: int | None = None,
) -> dict:
    h, w, _ = output_shape(*content.shape[:2], StyleOptions(size=size))
    beta = default_beta(h, w)
    single = stylize(
        content,
        style,
        StyleOptions(size=size, steps=steps, beta=beta, cache_targets=False, truncate=False),
        network=network,
    )
    target = single.history[-1].total
    reached: list[StepLosses] = []

    def stop_at_target(losses: StepLosses, _image) -> bool:
        if losses.side == max(h, w) and losses.total <= target:
            reached.append(losses)
            return True
        return False

    best_options = StyleOptions(
        size=size,
        steps=steps,
        beta=beta,
        scales=3,
        coarse_steps=coarse_steps if coarse_steps is not None else max(1, steps // 2),
    )
    best = stylize(content, style, best_options, network=network, callback=stop_at_target)
    full_steps = [s for s in best.history if s.side == max(h, w)]
    return {
        "size": size,
        "steps": steps,
        "target_loss": target,
        "single_scale_seconds": single.seconds,
        "best_seconds": reached[0].seconds if reached else None,
        "best_reached": bool(reached),
        "best_final_loss": best.history[-1].total,
        "best_scales": sorted({s.side for s in best.history}),
        "best_coarse_steps": best_options.coarse_steps,
        "best_full_size_steps": len(full_steps),
        "ratio": (reached[0].seconds / single.seconds) if reached else None,
    }


def fast_preview_ms(content: np.ndarray, style: np.ndarray, runs: int = 10) -> dict:
    stylizer = FastStylizer("cpu")
    stylizer.stylize(content, style)  # warm-up
    times = [stylizer.stylize(content, style).milliseconds for _ in range(runs)]
    return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", type=Path, help="default: scikit-image's astronaut")
    parser.add_argument("--style", type=Path, help="default: scikit-image's coffee")
    parser.add_argument("--steps", type=int, default=300, help="single-scale steps (target)")
    parser.add_argument("--size", type=int, default=512, help="size of the time-to-target test")
    parser.add_argument(
        "--coarse-steps", type=int, help="steps at each coarser scale (default: --steps / 2)"
    )
    parser.add_argument("--timing-steps", type=int, default=5, help="steps per s/step figure")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/style.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    content, style, content_name, style_name = default_images()
    if args.content:
        content, content_name = load_image(args.content), str(args.content)
    if args.style:
        style, style_name = load_image(args.style), str(args.style)
    network = VGGFeatures.load("vgg16")
    print(
        f"content {content_name}, style {style_name}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}"
    )

    per_step = []
    print(f"\n{'size':>5} {'naive s/step':>13} {'ours s/step':>12} {'ratio':>6}")
    for size in (256, 512):
        naive = seconds_per_step(network, content, style, size, naive=True, steps=args.timing_steps)
        ours = seconds_per_step(network, content, style, size, naive=False, steps=args.timing_steps)
        per_step.append({"size": size, "naive_s": naive, "ours_s": ours, "ratio": ours / naive})
        print(f"{size:>5} {naive:>13.3f} {ours:>12.3f} {ours / naive:>6.2f}")

    started = time.monotonic()
    target = time_to_target(network, content, style, args.size, args.steps, args.coarse_steps)
    print(
        f"\ntime to J* = {target['target_loss']:.4g} (J after {args.steps} single-scale steps "
        f"at {args.size} px):"
    )
    print(f"  single scale (naive)                  {target['single_scale_seconds']:8.1f} s")
    ours_512 = next((r["ours_s"] for r in per_step if r["size"] == args.size), None)
    if ours_512 is not None:
        estimate = args.steps * ours_512
        target["single_scale_ours_estimate_s"] = estimate
        print(
            f"  single scale, cut + cached (estimate: {args.steps} × its s/step) {estimate:8.1f} s"
        )
    if target["best_reached"]:
        print(
            f"  ours: {len(target['best_scales'])} scales {target['best_scales']}, cached, cut "
            f"{target['best_seconds']:8.1f} s  ({target['best_full_size_steps']} full-size "
            f"steps after {target['best_coarse_steps']} at each coarser scale)"
        )
        print(f"  ratio ours / single scale             {target['ratio']:8.2f}  (target <= 0.5)")
    else:
        print(
            f"  ours did not reach J* in {args.steps} full-size steps "
            f"(final J {target['best_final_loss']:.4g})"
        )

    fast = fast_preview_ms(content, style)
    print(
        f"\nfast preview (feed-forward, {max(content.shape[:2])} px output): "
        f"{fast['median_ms']:.0f} ms/image median, {fast['min_ms']:.0f} ms best"
    )
    document = {
        "content": content_name,
        "style": style_name,
        "threads": torch.get_num_threads(),
        "per_step": per_step,
        "time_to_target": target,
        "time_to_target_wall_s": time.monotonic() - started,
        "fast_preview": fast,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
