"""Style transfer speed: seconds per optimiser step, time to a target loss, fast preview, and
what the default run gives.

    python -m bench.style [--content IMG] [--style IMG] [--steps 300] [--size 512]
                          [--coarse-steps N] [--with-float32] [--json bench/results/style.json]
    python -m bench.style --defaults-only     # only row 0, merged into the JSON

In one run:
0. The default run (``StyleOptions()``, what the page and the CLI start with) on the page's
   default pair, astronaut × Hubble deep field, called as the page calls it (a callback that gets
   G every ``every`` steps): size, steps, seconds, s/step, the style-cost ratio (the content
   image's own J_style over the result's, float32; ``CLEARLY_STYLISED`` = 10× is "clearly
   stylised"), the result's J_content and, for scale, the style image's J_content.
1. Seconds per L-BFGS step at 256 and 512 px: naive (whole VGG16 stack run, C's and S's targets
   recomputed every step, float32), ours in float32 (network cut after relu5_1, targets computed
   once), and ours with the default precision (G's VGG passes in bfloat16 where the hardware has
   it; ``engine.style.precision``).
2. Time to the loss that ``--steps`` single-scale naive steps reach at ``--size``: that run sets
   the target J*; each of our variants runs until its J, evaluated in float32, is <= J* (up to
   2 × ``--steps`` full-size steps): cached targets, cut network, default precision, on one
   scale and on three coarse to fine (``--coarse-steps`` (default ``--steps`` / 2) at each
   coarser one); ``--with-float32`` adds three scales in float32. Our best is the fastest that
   reaches J*; the ratio is ours / naive (the issue's target: <= 0.5). All start from the
   content image with the same α and β; all times include computing the targets.
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
from engine.style import StyleOptions, image_costs, stylize
from engine.style.examples import load_example
from engine.style.fast import FastStylizer
from engine.style.options import default_beta, output_shape, resize
from engine.style.results import CLEARLY_STYLISED


def default_images() -> tuple[np.ndarray, np.ndarray, str, str]:
    from skimage import data

    return data.astronaut(), data.coffee(), "skimage astronaut", "skimage coffee"


def defaults_run(network: VGGFeatures, out: Path | None = None) -> dict:
    """Row 0: the default options on the page's default pair, with the page's callback cadence;
    ``out``: a folder to save C, S and G as PNG."""
    from PIL import Image

    content = load_example("Astronaut (scikit-image)")
    style = load_example("Hubble deep field (scikit-image)")
    options = StyleOptions()
    previews: list[bool] = []

    def as_the_page(_losses, image) -> bool:  # the engine renders G every ``every`` steps
        previews.append(image is not None)
        return False

    run = stylize(content, style, options, network=network, budget=None, callback=as_the_page)
    times = [h.seconds for h in run.history]
    shape = run.image.shape[:2]
    j_content, _ = image_costs(run.image, content, style, options, network=network)
    style_j_content, _ = image_costs(resize(style, shape), content, style, options, network=network)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, image in (("content", resize(content, shape)), ("style", style)):
            Image.fromarray(image).save(out / f"defaults_{name}.png")
        Image.fromarray(run.image).save(out / "defaults_result.png")
    return {
        "pair": "skimage astronaut × skimage hubble_deep_field",
        "size": max(shape),
        "steps": len(run.history),
        "previews": sum(previews),
        "dtype": run.dtype,
        "seconds": run.seconds,
        "s_per_step": run.seconds / len(run.history),
        "steady_s_per_step": (times[-1] - times[0]) / max(1, len(times) - 1),
        "style_ratio": run.style_ratio,
        "clearly_stylised": run.clearly_stylised,
        "content_cost": j_content,
        "style_image_content_cost": style_j_content,
    }


def print_defaults(row: dict) -> None:
    print(
        f"\ndefault run ({row['pair']}, {row['dtype']}, G shown every "
        f"{StyleOptions().every} steps):\n"
        f"{'size':>5} {'steps':>6} {'seconds':>8} {'s/step':>7} {'style ratio':>12} "
        f"{'J_content':>10} {'J_content(S)':>13}\n"
        f"{row['size']:>5} {row['steps']:>6} {row['seconds']:>8.1f} {row['s_per_step']:>7.3f} "
        f"{row['style_ratio']:>11.0f}× {row['content_cost']:>10.3g} "
        f"{row['style_image_content_cost']:>13.3g}\n"
        f"clearly stylised (style ratio >= {CLEARLY_STYLISED:g}): {row['clearly_stylised']}"
    )


def seconds_per_step(
    network: VGGFeatures,
    content: np.ndarray,
    style: np.ndarray,
    size: int,
    *,
    naive: bool,
    steps: int,
    precision: str = "auto",
) -> tuple[float, str]:
    """Mean seconds of ``steps`` L-BFGS steps after the first (which also computes targets),
    and the dtype they ran in."""
    options = StyleOptions(
        size=size,
        steps=steps + 1,
        cache_targets=not naive,
        truncate=not naive,
        precision="float32" if naive else precision,
    )
    result = stylize(content, style, options, network=network, budget=None)
    times = [h.seconds for h in result.history]
    return (times[-1] - times[0]) / steps, result.dtype


VARIANTS = {
    "default precision, 1 scale": {"scales": 1},
    "default precision, 3 scales": {"scales": 3},
    "float32, 3 scales": {"precision": "float32", "scales": 3},
}


def naive_reference(
    network: VGGFeatures, content: np.ndarray, style: np.ndarray, size: int, steps: int
) -> dict:
    """The naive single-scale float32 run whose J after ``steps`` steps is the target J*."""
    h, w, _ = output_shape(*content.shape[:2], StyleOptions(size=size))
    options = StyleOptions(
        size=size,
        steps=steps,
        beta=default_beta(h, w),
        cache_targets=False,
        truncate=False,
        precision="float32",
    )
    run = stylize(content, style, options, network=network, budget=None)
    return {"target_loss": run.history[-1].total, "seconds": run.seconds, "beta": options.beta}


def time_to_target(
    network: VGGFeatures,
    content: np.ndarray,
    style: np.ndarray,
    size: int,
    reference: dict,
    settings: dict,
    steps: int,
    coarse_steps: int,
) -> dict:
    """One variant of ours, run until J (float32) <= J* or ``steps`` full-size steps."""
    options = StyleOptions(
        size=size,
        steps=steps,
        beta=reference["beta"],
        coarse_steps=coarse_steps,
        target_loss=reference["target_loss"],
        **settings,
    )
    run = stylize(content, style, options, network=network, budget=None)
    full = [h for h in run.history if h.side == max(run.image.shape[:2])]
    return {
        "settings": settings,
        "dtype": run.dtype,
        "reached": bool(run.target_reached),
        "seconds": run.seconds,
        "ratio": run.seconds / reference["seconds"] if run.target_reached else None,
        "scales": sorted({h.side for h in run.history}),
        "coarse_steps": coarse_steps if len(run.history) > len(full) else 0,
        "full_size_steps": len(full),
        "final_loss": run.history[-1].total,
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
    parser.add_argument(
        "--with-float32", action="store_true", help="also time three scales in float32"
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/style.json"))
    parser.add_argument(
        "--defaults-only", action="store_true", help="only the default run, merged into --json"
    )
    parser.add_argument("--save-images", type=Path, help="folder for the default run's C, S, G")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.defaults_only:
        network = VGGFeatures.load("vgg16")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average "
              f"{os.getloadavg()[0]:.2f}")  # fmt: skip
        row = defaults_run(network, args.save_images)
        print_defaults(row)
        document = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {}
        document["defaults"] = row
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
        return 0
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

    defaults = defaults_run(network, args.save_images)
    print_defaults(defaults)

    per_step = []
    print(
        f"\n{'size':>5} {'naive s/step':>13} {'ours f32 s/step':>16} {'ours s/step':>12} "
        f"{'dtype':>9} {'ours/naive':>11}"
    )
    for size in (256, 512):
        steps = args.timing_steps
        naive, _ = seconds_per_step(network, content, style, size, naive=True, steps=steps)
        f32, _ = seconds_per_step(
            network, content, style, size, naive=False, steps=steps, precision="float32"
        )
        ours, dtype = seconds_per_step(network, content, style, size, naive=False, steps=steps)
        per_step.append(
            {"size": size, "naive_s": naive, "ours_float32_s": f32, "ours_s": ours,
             "ours_dtype": dtype, "ratio": ours / naive}
        )  # fmt: skip
        ratio = ours / naive
        print(f"{size:>5} {naive:>13.3f} {f32:>16.3f} {ours:>12.3f} {dtype:>9} {ratio:>11.2f}")

    started = time.monotonic()
    reference = naive_reference(network, content, style, args.size, args.steps)
    print(
        f"\ntime to J* = {reference['target_loss']:.4g} (J after {args.steps} naive single-scale "
        f"float32 steps at {args.size} px; ours stop once J in float32 <= J*):"
    )
    print(f"  {'naive, 1 scale, float32':<36} {reference['seconds']:8.1f} s")
    f32 = next((r["ours_float32_s"] for r in per_step if r["size"] == args.size), None)
    if f32 is not None:  # the same steps as naive, each cheaper: no need to run them
        reference["ours_float32_single_scale_estimate_s"] = args.steps * f32
        label = "ours, float32, 1 scale (estimate)"
        estimate = args.steps * f32
        print(f"  {label:<36} {estimate:8.1f} s  {estimate / reference['seconds']:.2f}×")
    coarse_steps = args.coarse_steps if args.coarse_steps is not None else max(1, args.steps // 2)
    rows = {}
    names = list(VARIANTS)[: 3 if args.with_float32 else 2]
    for name in names:
        row = time_to_target(
            network, content, style, args.size, reference, VARIANTS[name], 2 * args.steps,
            coarse_steps,
        )  # fmt: skip
        rows[name] = row
        detail = (
            f"{row['full_size_steps']} full-size steps after {row['coarse_steps']} at each "
            f"coarser scale, {row['dtype']}"
        )
        label = f"ours, {name}"
        if row["reached"]:
            print(f"  {label:<36} {row['seconds']:8.1f} s  {row['ratio']:.2f}×  ({detail})")
        else:
            final = f"final J {row['final_loss']:.4g}"
            print(f"  {label:<36} did not reach J* ({final}; {detail})")
    reached = [name for name in rows if rows[name]["reached"]]
    best = min(reached, key=lambda name: rows[name]["seconds"]) if reached else None
    if best is not None:
        print(f"  ours (best: {best}) / naive: {rows[best]['ratio']:.2f}  (target <= 0.5)")
    target = {"size": args.size, "steps": args.steps, **reference, "variants": rows, "best": best}

    fast = fast_preview_ms(content, style)
    print(
        f"\nfast preview (feed-forward, {max(content.shape[:2])} px output): "
        f"{fast['median_ms']:.0f} ms/image median, {fast['min_ms']:.0f} ms best"
    )
    document = {
        "content": content_name,
        "style": style_name,
        "threads": torch.get_num_threads(),
        "defaults": defaults,
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
