"""``stylize``: the Style transfer page's two methods to a PNG — Gatys et al.'s optimisation of
the pixels (``engine.style.transfer``) or the feed-forward preview (``--fast``). Choices and
defaults are the engine's: ``StyleOptions``' fields and the values its checks allow."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from cli.commands import Command, positive_int

if TYPE_CHECKING:
    from cli.context import CommandContext


def blend_weights(text: str | None, count: int) -> list[float]:
    """``--blend`` as weights summing to 1, one per ``--style`` (None: equal)."""
    if text is None:
        return [1.0 / count] * count
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise ValueError(f"--blend takes numbers separated by commas, got {text!r}") from exc
    if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"--blend needs {count} weights of 0 or more (one per --style)")
    return [w / sum(weights) for w in weights]


class Stylize(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from engine.style.options import (
            BACKBONES,
            Colour,
            Init,
            Optimizer,
            Precision,
            StyleOptions,
        )

        defaults = StyleOptions()
        parser.add_argument("--content", type=Path, required=True, help="content image C")
        parser.add_argument(
            "--style", type=Path, action="append", required=True, help="style image S (repeatable)"
        )
        parser.add_argument("--blend", help="weights of the --style images, e.g. 0.7,0.3")
        parser.add_argument(
            "--size", type=positive_int, default=defaults.size, help="output long side (px)"
        )
        parser.add_argument(
            "--steps", type=positive_int, default=defaults.steps, help="optimiser steps"
        )
        parser.add_argument("--alpha", type=float, default=defaults.alpha, help="content weight α")
        parser.add_argument(
            "--beta",
            type=float,
            default=defaults.beta,
            help="style weight β (default: set by size)",
        )
        parser.add_argument(
            "--tv", type=float, default=defaults.tv_weight, help="total-variation weight"
        )
        parser.add_argument("--init", choices=get_args(Init), default=defaults.init)
        parser.add_argument("--optimizer", choices=get_args(Optimizer), default=defaults.optimizer)
        parser.add_argument(
            "--colour",
            choices=get_args(Colour),
            default=defaults.colour,
            help="keep the content's colours",
        )
        parser.add_argument(
            "--scales", type=positive_int, default=defaults.scales, help="coarse-to-fine levels"
        )
        parser.add_argument(
            "--coarse-steps",
            type=int,
            default=defaults.coarse_steps,
            help="steps per coarser level",
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--backbone",
            choices=BACKBONES,
            default=defaults.backbone,
            help="vgg19 needs torchvision's weights in the torch cache; its β differs (set --beta)",
        )
        parser.add_argument(
            "--precision",
            choices=get_args(Precision),
            default=defaults.precision,
            help="number format of G's VGG passes (auto: bfloat16 where the hardware has it)",
        )
        parser.add_argument(
            "--every", type=positive_int, default=defaults.every, help="print every N steps"
        )
        parser.add_argument(
            "--no-budget",
            action="store_true",
            help="lift the pixel-step budget the app enforces (VISIONLAB_MAX_STYLE_WORK)",
        )
        parser.add_argument("--fast", action="store_true", help="feed-forward preview (instant)")
        parser.add_argument(
            "--strength", type=float, default=1.0, help="--fast: 0–1 style strength"
        )
        parser.add_argument("--out", type=Path, required=True, help="PNG to write")

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from PIL import Image

        from engine.device import pick_device

        if args.out.suffix.lower() != ".png":
            raise ValueError(f"--out must be a .png file, not {args.out}")
        blend = blend_weights(args.blend, len(args.style))
        content = context.read_image(args.content)  # a bad file fails before the network loads
        styles = [context.read_image(path) for path in args.style]
        device = pick_device(context.settings.device)
        summary: dict[str, Any] = {
            "content": str(args.content),
            "styles": [str(path) for path in args.style],
            "blend": blend,
            "out": str(args.out),
            "device": str(device),
        }
        if args.fast:
            from engine.style.fast import FastStylizer

            fast = FastStylizer(str(device)).stylize(
                content, styles, blend=blend, strength=args.strength, size=args.size
            )
            image, notices = fast.image, fast.notices
            summary.update(method="fast", milliseconds=round(fast.milliseconds, 1))
        else:
            from engine.style import StepLosses, StyleOptions, stylize

            def show_step(losses: StepLosses, _image: Any) -> None:
                if not args.json and (losses.step % args.every == 0 or losses.step == 1):
                    print(
                        f"step {losses.step:4d} ({losses.side} px)  total {losses.total:.4g}  "
                        f"content {losses.content:.4g}  style {losses.style:.4g}  "
                        f"{losses.seconds:6.1f} s",
                        flush=True,
                    )

            options = StyleOptions(
                size=args.size,
                steps=args.steps,
                alpha=args.alpha,
                beta=args.beta,
                tv_weight=args.tv,
                init=args.init,
                optimizer=args.optimizer,
                colour=args.colour,
                scales=args.scales,
                coarse_steps=args.coarse_steps,
                seed=args.seed,
                blend=blend,
                every=args.every,
                backbone=args.backbone,
                precision=args.precision,
            )
            budget = None if args.no_budget else context.settings.max_style_work
            result = stylize(
                content, styles, options, callback=show_step, device=device, budget=budget
            )
            image, notices = result.image, result.notices
            summary.update(method="gatys", **result.as_dict())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(args.out)
        height, width = image.shape[:2]
        summary.update(height=int(height), width=int(width), notices=notices)
        return summary

    def show(self, result: dict[str, Any]) -> None:
        for notice in result["notices"]:
            print(f"note: {notice}")
        size = f"{result['width']}×{result['height']}"
        if result["method"] == "fast":
            print(f"fast preview {size} in {result['milliseconds']:.0f} ms → {result['out']}")
            return
        last = result["history"][-1] if result["history"] else None
        losses = f"; J {last['total']:.4g}" if last else ""
        seconds = f"{result['seconds']:.1f} s ({result['dtype']})"
        steps = f"{result['steps_run']} steps at {size} in {seconds}"
        print(f"{steps}{losses} → {result['out']}")
