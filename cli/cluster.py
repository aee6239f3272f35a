"""``cli.py cluster SOURCE``: the people of an unlabelled photo collection, as the Discover page
finds them (``engine.clustering.discovery``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.commands import Command, positive_int

if TYPE_CHECKING:
    from cli.context import CommandContext

FACES_LISTED = 6
"""Faces named per cluster in the text table (all of them are in --json and --out)."""


def _threshold(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


class Cluster(Command):
    """Every face of a folder, a zip or the gallery, grouped into people."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "source",
            help="a folder or .zip of photos (every image anywhere in it, any layout), or "
            '"gallery" for the gallery\'s own enrolled faces',
        )
        parser.add_argument(
            "--threshold",
            type=_threshold,
            help="faces this close (distance) are neighbours; default: the threshold for the "
            "collection's size (0.50 up to about 500 faces, lower above: at most 20%% of "
            "faces with a stranger's face that close)",
        )
        parser.add_argument(
            "--min-size",
            type=positive_int,
            default=2,
            help="smallest group listed as a cluster; smaller ones are singletons (default 2)",
        )
        parser.add_argument(
            "--out", type=Path, help="write the clustering (clusters, their faces) as JSON here"
        )
        parser.add_argument(
            "--enrol",
            action="store_true",
            help="after clustering, enrol every cluster (not the singletons) that matches an "
            "enrolled person into that person, face by face as the Enrol page does (a face "
            "already in the gallery is counted as a duplicate, not stored twice); clusters "
            "that match nobody are left alone",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from engine.clustering.discovery import (
            GALLERY_SOURCE,
            discover,
            enrol_matched,
            gallery_collection,
            group,
            person_matcher,
        )
        from engine.safe_zip import InvalidArchive

        from_gallery = args.source == GALLERY_SOURCE
        if not from_gallery and not Path(args.source).exists():  # before the models load
            raise InvalidArchive(f"no such folder or zip file: {args.source}")
        if args.out is not None and not args.out.parent.is_dir():
            raise FileNotFoundError(f"no folder {args.out.parent} to write {args.out.name} in")
        if from_gallery:
            with context.gallery() as gallery:
                collection = gallery_collection(gallery)
                matcher = person_matcher(gallery, context.settings, collection.model_id)
                found = group(
                    collection, matcher=matcher, threshold=args.threshold, min_size=args.min_size
                )
                enrolled = enrol_matched(gallery, found) if args.enrol else []
        else:
            pipeline = context.pipeline()
            with context.gallery(pipeline.model_id) as gallery:
                found = discover(
                    pipeline,
                    args.source,
                    gallery=gallery,
                    settings=context.settings,
                    cache_dir=context.cache_dir,
                    threshold=args.threshold,
                    min_size=args.min_size,
                    keep_chips=args.enrol,  # chips are only needed to store faces
                    progress=_progress(),
                )
                enrolled = enrol_matched(gallery, found) if args.enrol else []
        clustering = found.clustering.as_dict()
        if args.out is not None:
            args.out.write_text(json.dumps(clustering, indent=1) + "\n", encoding="utf-8")
        threshold = found.clustering.options.threshold
        collection = found.collection
        return {
            "source": args.source,
            "model_id": collection.model_id,
            "photos": collection.photos,
            "no_face": list(collection.no_face),
            "unreadable": [{"photo": p, "reason": r} for p, r in collection.unreadable],
            "ignored": len(collection.ignored),
            "threshold_source": found.default_threshold.source
            if args.threshold is None
            else f"threshold {threshold:g}, given with --threshold",
            "out": None if args.out is None else str(args.out),
            "enrolled": [
                {"label": c.label, "matched": c.person.name if c.person else None, **e.as_dict()}
                for c, e in enrolled
            ],
            **clustering,
        }

    def show(self, result: dict[str, Any]) -> None:
        print(
            f"{result['source']}: {result['photos']:,} photos, {result['faces']:,} faces; "
            f"{result['threshold_source']}"
        )
        clusters = result["clusters"]
        if clusters:
            print(f"{'cluster':>8} {'size':>5} {'spread':>7}  matches")
            for c in clusters:
                person = c["person"]
                who = f"{person['name']} ({person['distance']:.3f})" if person else "-"
                print(f"{c['label']:>8} {c['size']:>5} {c['spread']:>7.3f}  {who}")
                more = len(c["faces"]) - FACES_LISTED
                listed = ", ".join(c["faces"][:FACES_LISTED]) + (
                    f", … {more} more" if more > 0 else ""
                )
                print(f"{'':>8} {listed}")
        else:
            print(f"no cluster of {result['options']['min_size']} or more faces")
        print(f"singletons: {len(result['singletons'])}")
        if result["no_face"]:
            print(f"photos without a face: {len(result['no_face'])}")
        for item in result["unreadable"]:
            print(f"  unreadable: {item['photo']} ({item['reason']})")
        for e in result["enrolled"]:
            print(
                f"cluster {e['label']} into {e['matched']}: {e['enrolled']} faces enrolled, "
                f"{e['duplicates']} already enrolled"
            )
        if result["out"]:
            print(f"wrote {result['out']}")


def _progress():
    """Photos read so far, on a terminal's stderr (nothing when stderr is a file)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rreading photos: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show
