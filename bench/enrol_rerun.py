"""Bulk enrolment of the same zip twice: the re-run skips every file before decoding it.

    python -m bench.enrol_rerun --lfw ../shared/data/lfw [--people 40] [--images 192]
                                [--device cpu] [--json bench/results/enrol_rerun.json]

The zip is built in memory from LFW (``<person>/<images>``: the first ``--people`` people, in
name order, with at least ``--min-images`` photos, up to ``--images`` photos spread evenly
among them) and enrolled into a fresh gallery in a temporary folder, then enrolled again. The
first run detects, aligns and embeds every photo; the re-run finds each file's SHA-256 in the
gallery (``Gallery.faces_from_image``) and reports it as a duplicate without decoding it.
Nothing is written to the repository but the JSON, when asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

from engine.config import Settings
from engine.enrollment import EnrollSummary, enroll_folder
from engine.faces.pipeline import FacePipeline
from engine.images import IMAGE_SUFFIXES
from store import Gallery


def lfw_zip(root: Path, people: int, images: int, min_images: int) -> tuple[bytes, int, int]:
    """(zip bytes, people, images) of ``<person>/<image>`` entries chosen from ``root``."""
    folders = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(photos) >= min_images:
            folders.append(photos)
        if len(folders) == people:
            break
    chosen: list[Path] = []
    rank = 0
    while len(chosen) < images and any(rank < len(photos) for photos in folders):
        chosen += [photos[rank] for photos in folders if rank < len(photos)]
        rank += 1
    chosen = chosen[:images]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in chosen:
            archive.write(path, f"{path.parent.name}/{path.name}")
    return buffer.getvalue(), len(folders), len(chosen)


def timed_run(pipeline: FacePipeline, gallery: Gallery, data: bytes) -> tuple[float, EnrollSummary]:
    start = time.perf_counter()
    summary = enroll_folder(pipeline, gallery, data)
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, required=True, help="LFW folder: <person>/<images>")
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--min-images", type=int, default=4, help="photos a person must have")
    parser.add_argument("--device", default=None, help="cpu, cuda, … (default: the best there)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    data, people, images = lfw_zip(args.lfw, args.people, args.images, args.min_images)
    pipeline = FacePipeline.load(args.device)
    with tempfile.TemporaryDirectory(prefix="enrol-rerun-") as folder:
        settings = dataclasses.replace(Settings.from_env(), data_dir=Path(folder))
        with Gallery.open(settings, pipeline.model_id) as gallery:
            first_s, first = timed_run(pipeline, gallery, data)
            rerun_s, rerun = timed_run(pipeline, gallery, data)

    print(
        f"{images} LFW photos of {people} people, zip {len(data) / 1e6:.1f} MB, "
        f"device {pipeline.embedder.device}"
    )
    header = f"{'run':<10}{'seconds':>9}{'img/s':>9}{'enrolled':>10}{'main face':>11}"
    header += f"{'duplicate':>11}{'several':>9}{'no face':>9}"
    print(header)
    rows = []
    for name, seconds, summary in (("first", first_s, first), ("re-run", rerun_s, rerun)):
        row = {
            "run": name,
            "seconds": round(seconds, 3),
            "images_per_s": round(summary.total / seconds, 1),
            **summary.counts,
            "main_face_taken": summary.main_face_taken,
        }
        rows.append(row)
        print(
            f"{name:<10}{seconds:>9.2f}{row['images_per_s']:>9.1f}{summary.enrolled:>10}"
            f"{summary.main_face_taken:>11}{summary.duplicate:>11}{summary.several_faces:>9}"
            f"{summary.no_face:>9}"
        )
    ratio = first_s / rerun_s
    print(f"re-run is {ratio:.0f}× faster than the first run (target ≥ 20×)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "enrol_rerun",
                    "people": people,
                    "images": images,
                    "device": str(pipeline.embedder.device),
                    "runs": rows,
                    "speedup": round(ratio, 1),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
