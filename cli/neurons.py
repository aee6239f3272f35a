"""The neuron browser's jobs, as the Neurons page runs them: ``layers`` of a backbone,
``index-neurons`` over a folder of images, ``show-neuron`` from an index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.commands import Command, positive_int

if TYPE_CHECKING:
    from cli.context import CommandContext

SKIPPED_SHOWN = 5
"""Unreadable images ``index-neurons`` names in its text output (``--json`` lists them all)."""


def _add_backbone(parser: argparse.ArgumentParser) -> None:
    from engine.neurons.backbones import BACKBONES

    parser.add_argument("--model", choices=BACKBONES, required=True)


class Layers(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_backbone(parser)

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.neurons.backbones import load_backbone

        backbone = load_backbone(args.model)
        return {
            "model": backbone.name,
            "title": backbone.title,
            "input_size": backbone.input_size,
            "layers": [
                {"name": layer.name, "channels": layer.channels, **layer.receptive_field.as_dict()}
                for layer in backbone.layers
            ],
        }

    def show(self, result: dict[str, Any]) -> None:
        print(f"{result['title']} · input {result['input_size']}×{result['input_size']}")
        print(f"  {'layer':<9} {'channels':>8} {'field':>6} {'stride':>6} {'offset':>6}")
        for layer in result["layers"]:
            print(
                f"  {layer['name']:<9} {layer['channels']:>8} {layer['size']:>6} "
                f"{layer['stride']:>6} {layer['start']:>6}"
            )
        print("  field: receptive field in input pixels; offset: first input pixel unit 0 reads")


class IndexNeurons(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_backbone(parser)
        parser.add_argument(
            "--layer", nargs="+", required=True, metavar="NAME", help="one or more layers"
        )
        parser.add_argument("--images", type=Path, required=True, help="folder of images")
        parser.add_argument("--top-k", type=positive_int, default=9)
        parser.add_argument("--out", type=Path, required=True, help="index folder (resumes)")
        parser.add_argument("--batch-size", type=positive_int, default=16)
        parser.add_argument("--limit", type=positive_int, help="only the first N images")
        parser.add_argument(
            "--input-size", type=positive_int, help="VGG input square (default 224; face: 150)"
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        import time

        from engine.neurons.backbones import load_backbone
        from engine.neurons.index import build_index

        def show_progress(done: int, total: int) -> None:
            print(f"\r[{done}/{total}] images", end="", file=sys.stderr, flush=True)

        backbone = load_backbone(args.model, input_size=args.input_size)
        for name in args.layer:
            backbone.layer(name)  # an unknown layer fails before any image is read
        started = time.monotonic()
        index = build_index(
            backbone,
            args.images,
            args.out,
            args.layer,
            k=args.top_k,
            batch_size=args.batch_size,
            limit=args.limit,
            progress=show_progress if sys.stderr.isatty() else None,
            max_pixels=context.settings.max_pixels,
        )
        if sys.stderr.isatty():
            print(file=sys.stderr)
        return {
            "index": str(index.folder),
            "model": index.model,
            "layers": {
                name: {"channels": li.channels, **li.receptive_field.as_dict()}
                for name, li in index.layers.items()
            },
            "k": index.k,
            "images": len(index.images),
            "done": index.done,
            "complete": index.complete,
            "skipped": index.skipped,
            "fingerprint": index.fingerprint,
            "seconds": round(time.monotonic() - started, 2),
        }

    def show(self, result: dict[str, Any]) -> None:
        layers = ", ".join(result["layers"])
        print(
            f"indexed {result['done']}/{result['images']} images with {result['model']} at "
            f"{layers} (top {result['k']}) in {result['seconds']:.1f} s → {result['index']}"
        )
        skipped = result["skipped"]
        if skipped:
            print(f"  skipped {len(skipped)} unreadable: {', '.join(skipped[:SKIPPED_SHOWN])}")


class ShowNeuron(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--index", type=Path, required=True, help="an index-neurons folder")
        parser.add_argument("--channel", type=int, required=True)
        parser.add_argument("--layer", help="needed when the index has several layers")
        parser.add_argument("--out", type=Path, required=True, help="PNG to write")

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from PIL import Image

        from engine.neurons.errors import UnknownLayer
        from engine.neurons.index import load_index
        from engine.neurons.patches import neuron_sheet

        index = load_index(args.index)
        if args.layer is None and len(index.layers) > 1:
            raise UnknownLayer(
                f"the index has layers {', '.join(index.layers)}: choose one with --layer"
            )
        layer = args.layer or next(iter(index.layers))
        hits = index.hits(layer, args.channel)
        sheet = neuron_sheet(index, layer, args.channel)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(args.out)
        return {
            "png": str(args.out),
            "model": index.model,
            "layer": layer,
            "channel": args.channel,
            "patches": [
                {
                    "rank": h.rank,
                    "value": h.value,
                    "image": index.images[h.image_id],
                    "y": h.y,
                    "x": h.x,
                }
                for h in hits
            ],
        }

    def show(self, result: dict[str, Any]) -> None:
        print(f"{result['model']} {result['layer']} channel {result['channel']} → {result['png']}")
        for p in result["patches"]:
            print(f"  {p['rank'] + 1}. {p['value']:.4g}  {p['image']} at ({p['y']}, {p['x']})")
