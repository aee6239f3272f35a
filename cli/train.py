"""``train``: triplet-loss training of a projection head on the pretrained descriptors, or a
fine-tune of the ResNet's last levels, saved under <data>/models with its before/after figures.

The run itself — who is held out, training, the threshold, before/after, the checkpoint's
metadata — is ``engine.training.session.TrainingSession``, the Train page's too; the knobs, their
defaults and choices are ``engine.training.TrainingOptions``'.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.commands import Command, positive_int
from cli.output import embedding_progress
from engine.permissions import OPERATOR

if TYPE_CHECKING:
    from cli.context import CommandContext
    from engine.training import EpochStats


class Train(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from engine.training.options import (
            FINE_TUNE_LEVELS,
            FINE_TUNE_VIEWS,
            HEAD_WEIGHT_DECAY,
            MINERS,
            TrainingOptions,
        )

        defaults = TrainingOptions()
        parser.add_argument(
            "--images", type=Path, required=True, help="folder of <person>/<images>"
        )
        parser.add_argument("--people", type=Path, help="LFW people file: only these people")
        parser.add_argument("--epochs", type=positive_int, default=defaults.epochs)
        parser.add_argument("--alpha", type=float, default=defaults.alpha, help="triplet margin")
        parser.add_argument("--miner", choices=MINERS, default=defaults.miner)
        parser.add_argument("--lr", type=float, default=defaults.lr)
        parser.add_argument("--p", type=positive_int, default=defaults.p, help="people per batch")
        parser.add_argument(
            "--k", type=positive_int, default=defaults.k, help="images per person per batch"
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--max-images", type=positive_int, help="cap (whole people, in order)")
        parser.add_argument("--eval-pairs", type=Path, help="LFW-format pairs to evaluate on")
        parser.add_argument("--eval-root", type=Path, help="image root of --eval-pairs")
        parser.add_argument(
            "--weight-decay",
            type=float,
            default=defaults.weight_decay,
            help=f"AdamW decay (default {HEAD_WEIGHT_DECAY:g} for a head: towards the base model; "
            "0 for --fine-tune)",
        )
        parser.add_argument(
            "--fine-tune",
            type=int,
            choices=FINE_TUNE_LEVELS,
            default=defaults.fine_tune,
            help="0: a projection head on the frozen descriptors; 1 or 2: fine-tune the ResNet's "
            "last level(s) and fc on the images' chips",
        )
        parser.add_argument(
            "--augment-views",
            type=positive_int,
            default=defaults.augment_views,
            help="views per image: the image plus random flip / crop-jitter / colour variations "
            f"of its aligned chip (default {FINE_TUNE_VIEWS} with --fine-tune, 1 — none — for a "
            "head)",
        )
        parser.add_argument(
            "--held-out",
            type=float,
            default=defaults.held_out,
            help="share of the people held out to keep the best epoch (0: keep the last)",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.device import pick_device
        from engine.evaluation.embedding import embed_pair_set
        from engine.evaluation.pair_sets import pairs_from_file
        from engine.training import TrainingOptions
        from engine.training.data import load_training_set
        from engine.training.models import save_trained_model
        from engine.training.session import TrainingSession

        if bool(args.eval_pairs) != bool(args.eval_root):
            raise ValueError("--eval-pairs and --eval-root go together")
        if not args.images.is_dir():
            raise ValueError(f"no image folder at {args.images}")
        options = TrainingOptions(  # checked here, before any model loads
            alpha=args.alpha,
            miner=args.miner,
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            p=args.p,
            k=args.k,
            seed=args.seed,
            held_out=args.held_out,
            test_share=0.0,  # the CLI compares on --eval-pairs: every person of the folder trains
            fine_tune=args.fine_tune,
            augment_views=args.augment_views,
        )
        eval_pairs = pairs_from_file(args.eval_pairs, args.eval_root) if args.eval_pairs else None
        settings, cache = context.settings, context.cache_dir
        pipeline = context.pipeline(base=True)
        data = load_training_set(
            pipeline,
            args.images,
            cache,
            people_file=args.people,
            min_images=2,
            max_images=args.max_images,
            progress=embedding_progress("training"),
        )
        test = None
        if eval_pairs is not None:
            test = embed_pair_set(pipeline, eval_pairs, cache, progress=embedding_progress("eval"))
        session = TrainingSession(
            data,
            options,
            pipeline=pipeline,
            cache_dir=cache,
            eval_pairs=test,
            device=pick_device(settings.device),
        )
        if session.options.held_out != options.held_out and not args.json:
            print(f"{len(data.people)} people: too few to hold any out; keeping the last epoch")

        def show_epoch(stats: EpochStats) -> None:
            if not args.json:
                print(
                    f"epoch {stats.epoch:3d}  loss {stats.loss:.4f}  "
                    f"active {stats.active_fraction:6.1%}"
                    f"  d(a,p) {stats.mean_d_ap:.3f}  d(a,n) {stats.mean_d_an:.3f}"
                    f"  triplets {stats.triplets:,}"
                    + (
                        f"  held-out AUC {stats.held_out_auc:.5f} EER {stats.held_out_eer:.2%}"
                        if stats.held_out_auc is not None
                        else ""
                    ),
                    flush=True,
                )

        report = session.run(progress=show_epoch, preparing=_preparing)
        metadata = report.metadata(str(args.images))
        metadata.update(
            people_file=str(args.people) if args.people else None,
            eval_pairs=str(args.eval_pairs) if args.eval_pairs else None,
        )
        path, saved = save_trained_model(settings.data_dir, report.model, metadata, actor=OPERATOR)
        return {
            "images_folder": str(args.images),
            "people_file": metadata["people_file"],
            "base_model_id": data.model_id,
            "model_id": saved["model_id"],
            "checkpoint": str(path),
            "people": len(data.people),
            "images": len(data),
            "listed_images": data.listed_images,
            "skipped": data.skipped,
            "alpha": options.alpha,
            "miner": options.miner,
            "best_epoch": report.result.best_epoch,
            "held_out_baseline": metadata["held_out_baseline"],
            "threshold": saved.get("threshold"),
            "epochs": metadata["history"],
            "eval_pairs": metadata["eval_pairs"],
            "eval_image_outcomes": test.status_counts() if test is not None else None,
            "evaluation": {name: c.as_dict() for name, c in report.comparisons.items()},
        }

    def show(self, result: dict[str, Any]) -> None:
        from engine.training.session import headline

        # The per-epoch lines were printed as training ran.
        skipped = ", ".join(f"{k} {v:,}" for k, v in result["skipped"].items()) or "none"
        print(
            f"trained on {result['images']:,} images of {result['people']:,} people "
            f"({result['listed_images']:,} listed; skipped: {skipped}); "
            f"miner {result['miner']}, alpha {result['alpha']}"
        )
        titles = {"train": "training people's pairs", "eval": Path(result["eval_pairs"] or "").name}
        for name, pair in result["evaluation"].items():
            before, after = headline(pair["before"]), headline(pair["after"])
            print(f"{titles[name]}: accuracy {after['protocol']}")
            for label, row in (("before", before), ("after", after)):
                tar = row["tar_at_far_1e-2"]
                tar_text = f"{100 * tar:.2f} %" if tar is not None else "not measurable"
                print(
                    f"  {label:6s}  accuracy {100 * row['accuracy']:.2f} %  "
                    f"EER {100 * row['eer']:.2f} %  TAR@FAR1e-2 {tar_text}"
                )
        if result["best_epoch"] is not None:
            kept = result["best_epoch"] or "0 (the untrained head: no epoch beat the base model)"
            baseline = result["held_out_baseline"]
            print(
                f"kept the weights of epoch {kept}, best on the held-out people "
                f"(before training: AUC {baseline['auc']:.5f}, EER {baseline['eer']:.2%})"
            )
        print(f"model {result['model_id']} (base {result['base_model_id']})")
        print(f"saved {result['checkpoint']}")
        if "+head-" in result["model_id"]:
            print(f"use it with: python cli.py use-model {result['model_id']}")


def _preparing(stage: str, done: int, total: int) -> None:
    """Chips cut and trunk features computed, counted on a terminal's stderr as embedding is."""
    show = embedding_progress(stage)
    if show is not None:
        show(done, total)
