"""``evaluate``: the threshold lab's evaluation of an LFW-format pairs file, in one run."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.commands import Command
from cli.output import embedding_progress

if TYPE_CHECKING:
    from cli.context import CommandContext


class Evaluate(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from engine.evaluation.protocol import SCORERS

        parser.add_argument("--pairs", type=Path, required=True, help="LFW-format pairs file")
        parser.add_argument("--root", type=Path, required=True, help="image root of the pairs")
        parser.add_argument(
            "--scorer",
            choices=SCORERS,
            default="distance",
            help="distance, or a logistic-regression head on |a−b| or χ² features",
        )
        parser.add_argument(
            "--train-pairs", type=Path, help="pairs to train a head and choose the threshold on"
        )
        parser.add_argument(
            "--scores-csv",
            type=Path,
            metavar="OUT",
            help="write name_a,name_b,label,score per pair",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.evaluation.embedding import embed_pair_set
        from engine.evaluation.pair_sets import pairs_from_file
        from engine.evaluation.protocol import run_evaluation, scores_csv

        test_pairs = pairs_from_file(args.pairs, args.root)
        train_pairs = pairs_from_file(args.train_pairs, args.root) if args.train_pairs else None
        if args.scorer != "distance" and train_pairs is None and not test_pairs.has_folds:
            # Say so before the models load and the images are embedded.
            raise ValueError(f"--scorer {args.scorer} needs --train-pairs to train the head on")
        pipeline = context.pipeline()
        cache = context.cache_dir
        test = embed_pair_set(pipeline, test_pairs, cache, progress=embedding_progress("test"))
        train = None
        if train_pairs is not None:
            progress = embedding_progress("train")
            train = embed_pair_set(pipeline, train_pairs, cache, progress=progress)
        evaluation = run_evaluation(args.scorer, test, train)
        if args.scores_csv:
            args.scores_csv.parent.mkdir(parents=True, exist_ok=True)
            args.scores_csv.write_text(scores_csv(test, evaluation.scores), encoding="utf-8")
        return {
            "pairs": str(args.pairs),
            "train_pairs": str(args.train_pairs) if args.train_pairs else None,
            "root": str(args.root),
            "model_id": test.model_id,
            "augment": test.augment,
            "images": len(test_pairs.images),
            "image_outcomes": test.status_counts(),
            "pairs_scored": len(evaluation.scores.values),
            "pairs_dropped": test.dropped_pairs,
            "scores_csv": str(args.scores_csv) if args.scores_csv else None,
            **evaluation.report.as_dict(),
        }

    def show(self, result: dict[str, Any]) -> None:
        genuine, impostors = result["genuine_pairs"], result["impostor_pairs"]
        print(
            f"{Path(result['pairs']).name}: {result['pairs_scored']:,} pairs scored ({genuine:,} "
            f"genuine, {impostors:,} impostor), {result['images']:,} images; "
            f"{result['model_id']}, augment {result['augment']}"
        )
        outcomes = ", ".join(f"{k} {v:,}" for k, v in result["image_outcomes"].items())
        dropped = f"; {result['pairs_dropped']:,} pairs dropped" if result["pairs_dropped"] else ""
        print(f"images: {outcomes}{dropped}")
        train_pairs = result["train_pairs"]
        trained = f", trained on {Path(train_pairs).name}" if train_pairs else ""
        print(f"scorer: {result['scorer']}{trained if result['higher_is_same'] else ''}")
        accuracy = f"{100 * result['accuracy']:.2f} %"
        if result["fold_accuracies"]:
            spread = 100 * statistics.pstdev(result["fold_accuracies"])
            accuracy += f" ± {spread:.2f}"
        print(f"  accuracy      {accuracy}  at {result['threshold']:.3f} ({result['protocol']})")
        print(f"  ROC AUC       {result['roc_auc']:.4f}")
        print(f"  EER           {100 * result['eer']:.2f} %  at {result['eer_threshold']:.3f}")
        print(f"  d′            {result['d_prime']:.2f}")
        for row in result["tar_at_far"]:
            label = f"  TAR @ FAR {row['target_far']:.0e}"
            if not row["measurable"]:
                needed = round(1 / row["target_far"])
                print(
                    f"{label}  not measurable: needs {needed:,} impostor pairs, {impostors:,} here"
                )
            else:
                threshold = row["threshold"]
                at = f"{threshold:.3f}" if threshold is not None else "none (nothing accepted)"
                print(f"{label}  {100 * row['tar']:.2f} %  at {at}")
        if result["scores_csv"]:
            print(f"wrote {result['scores_csv']}")
