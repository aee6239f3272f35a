"""The trained face models, as the Train page's "Model in use" shows them: ``models`` lists them,
``use-model`` chooses the one Enroll / Verify / Recognize use."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from cli.commands import Command
from engine.permissions import OPERATOR

if TYPE_CHECKING:
    from cli.context import CommandContext


class Models(Command):
    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.faces.weights import FACE_RESNET_V1
        from engine.training.models import active_model_id, list_trained_models

        data_dir = context.settings.data_dir
        return {
            "active": active_model_id(data_dir) or FACE_RESNET_V1.model_id,
            "base_model_id": FACE_RESNET_V1.model_id,
            "models": [
                {
                    "model_id": m.model_id,
                    "path": str(m.path),
                    "created": m.metadata.get("created"),
                    "data": m.metadata.get("data"),
                    "miner": m.metadata.get("miner"),
                    "alpha": m.metadata.get("alpha"),
                    "epochs": m.metadata.get("epochs"),
                    "best_epoch": m.metadata.get("best_epoch"),
                    "threshold": m.threshold,
                    "evaluation": m.metadata.get("evaluation"),
                }
                for m in list_trained_models(data_dir, FACE_RESNET_V1.model_id)
            ],
        }

    def show(self, result: dict[str, Any]) -> None:
        base = result["base_model_id"]
        mark = "*" if result["active"] == base else " "
        print(f"{mark} {base}  (pretrained)")
        for m in result["models"]:
            mark = "*" if result["active"] == m["model_id"] else " "
            threshold = f"threshold {m['threshold']:.3f}" if m["threshold"] else "no threshold"
            print(f"{mark} {m['model_id']}  {m['created']}  {m['miner']}  {threshold}  {m['data']}")
        print("* = in use by Enroll / Verify / Recognize and the CLI")


class UseModel(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", help='a model id from `cli.py models`, or "base"')
        parser.add_argument(
            "--no-reembed", action="store_true", help="switch without re-embedding the gallery"
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.faces.weights import FACE_RESNET_V1
        from engine.training.models import load_usable_projection, set_active_model
        from engine.training.reembed import reembed_gallery

        base_id = FACE_RESNET_V1.model_id
        model_id = base_id if args.model in ("base", base_id) else args.model
        data_dir = context.settings.data_dir
        summary = None
        if model_id != base_id and not args.no_reembed:
            head = load_usable_projection(data_dir, model_id, base_id)

            def show(done: int, total: int) -> None:
                print(f"\rre-embedding faces {done}/{total}", end="", file=sys.stderr, flush=True)

            with context.gallery(base_id) as source, context.gallery(model_id) as target:
                summary = reembed_gallery(
                    source, target, head.project, progress=show, actor=OPERATOR
                )
            print(file=sys.stderr)
        set_active_model(data_dir, model_id, base_id, actor=OPERATOR)
        return {
            "active": model_id,
            "reembedded": dataclasses.asdict(summary) if summary is not None else None,
        }

    def show(self, result: dict[str, Any]) -> None:
        print(f"now using {result['active']}")
        summary = result["reembedded"]
        if summary:
            print(
                f"gallery: {summary['written']} faces re-embedded, {summary['already']} already "
                f"there, {summary['without_chip']} without a stored chip (of {summary['faces']})"
            )
