"""Bulk enrolment of LFW end to end: images/s in this process, and with the analysis in workers.

    python -m bench.enrol --lfw ../shared/data/lfw [--limit N] [--workers 0 2]
                          [--stage-sample 200] [--json bench/results/enrol-13233.json]

Every LFW image (13,233; the first ``--limit`` in sorted order when given) is enrolled into a
fresh gallery in a temporary folder, each person folder its own person, by the code behind
``cli.py enroll`` and the Enroll page: ``engine.enrollment.enroll_folder`` (``--workers 0``:
decode → detect → landmarks → chip → embed → store, one image after another, torch on every
core) or ``engine.enrol_workers.enroll_folder_in_workers`` (``--workers N``: the same loop, the
analysis in N processes of one torch thread each, the store writes here). Images with no face
or several faces are part of the throughput and counted as the engine counts them. The
gallery is SQLite + embedded Chroma whatever ``VISIONLAB_DATABASE_URL`` / ``CHROMA_HOST`` say,
so every run starts empty. The pipeline is the CLI's (``FacePipeline.from_settings``: "mirror"
augmentation by default, two embeddings per face).

The engine does not time its stages, so they are timed apart on the first ``--stage-sample``
images, on torch's default threads and on one thread (what a worker uses).

The machine may be shared: the load average is recorded before and after each run. Nothing is
written to the repository but the JSON, when asked for (rewritten after each run, so a long
run that is stopped keeps what it finished).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from engine.openmp import prefer_passive_waiting

prefer_passive_waiting()  # as cli.py and app.py do, before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.enrol_workers import enroll_folder_in_workers  # noqa: E402
from engine.enrollment import (  # noqa: E402
    EnrollSummary,
    FileOutcome,
    enroll_folder,
    image_sha256,
)
from engine.faces.pipeline import Face, FacePipeline  # noqa: E402
from engine.faces.types import Detection  # noqa: E402
from engine.faces.weights import FACE_RESNET_V1  # noqa: E402
from engine.images import IMAGE_SUFFIXES, load_image  # noqa: E402
from engine.permissions import OPERATOR  # noqa: E402
from store import Gallery, NewFace  # noqa: E402
from store.guarded import GuardedGallery  # noqa: E402

T = TypeVar("T")

STAGES = ("read + hash", "decode", "detect", "landmarks + chip", "embed", "store")


def lfw_images(root: Path, limit: int | None) -> list[Path]:
    """``<person>/<image>`` files under ``root`` in sorted order, the first ``limit`` of them."""
    found = sorted(
        p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    return found[:limit] if limit is not None else found


def linked_folder(images: list[Path], folder: Path) -> Path:
    """``folder/<person>/<image>`` as symbolic links to ``images``: exactly the chosen files, in
    the layout ``enroll_folder`` reads, nothing copied."""
    for image in images:
        link = folder / image.parent.name / image.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(image.resolve())
    return folder


@contextmanager
def fresh_gallery(model_id: str) -> Iterator[Gallery]:
    """An empty SQLite + embedded Chroma gallery in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-enrol-") as folder:
        settings = dataclasses.replace(
            Settings.from_env(), data_dir=Path(folder), database_url=None, chroma_host=None
        )
        with Gallery.open(settings, model_id, FACE_RESNET_V1.embedding_dim or 128) as gallery:
            yield gallery


def enrol_run(pipeline: FacePipeline, source: Path, workers: int) -> dict[str, Any]:
    """One bulk enrolment of ``source`` into a fresh gallery, timed, with its counts."""
    first_done: list[float] = []

    def progress(done: int, total: int, outcome: FileOutcome) -> None:
        if done == 1:
            first_done.append(time.perf_counter())

    load_before = os.getloadavg()
    with fresh_gallery(pipeline.model_id) as gallery:
        guarded = GuardedGallery(gallery, OPERATOR)  # the CLI passes the same checks
        start = time.perf_counter()
        if workers == 0:
            summary = enroll_folder(pipeline, guarded, source, progress=progress)
        else:
            summary = enroll_folder_in_workers(
                pipeline,
                guarded,
                source,
                workers=workers,
                progress=progress,
            )
        seconds = time.perf_counter() - start
        stored = gallery.count_faces()
    return run_row(workers, seconds, first_done[0] - start, summary, stored, load_before)


def run_row(
    workers: int,
    seconds: float,
    first_s: float,
    summary: EnrollSummary,
    stored: int,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    done = len(summary.outcomes)
    return {
        "workers": workers,
        "torch_threads": 1 if workers else torch.get_num_threads(),
        "images": summary.total,
        "seconds": round(seconds, 2),
        "images_per_s": round(done / seconds, 2),
        "first_image_s": round(first_s, 2),
        "images_per_s_after_first": round((done - 1) / (seconds - first_s), 2),
        "counts": summary.counts,
        "main_face_taken": summary.main_face_taken,
        "faces_in_gallery": stored,
        "people": len(summary.people),
        "stopped": summary.stopped,
        "loadavg_start": [round(v, 2) for v in load_before],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
    }


def stage_times(pipeline: FacePipeline, images: list[Path], threads: int) -> dict[str, float]:
    """Seconds per stage over ``images``, one image after another as ``enroll_folder`` goes;
    store: the lookups and ``Gallery.enroll`` of the first face, into a fresh gallery."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    spent = dict.fromkeys(STAGES, 0.0)

    def timed(stage: str, work: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        result = work(*args)
        spent[stage] += time.perf_counter() - start
        return result

    def read_and_hash(path: Path) -> tuple[bytes, str]:
        data = path.read_bytes()
        return data, image_sha256(data)

    def align(image: np.ndarray, detection: Detection) -> Face:
        points, chip = pipeline.align(image, detection.box)
        return Face(detection.box, detection.score, points, chip)

    def store(gallery: Gallery, person: str, face: Face, sha256: str) -> None:
        gallery.faces_from_image(sha256)
        gallery.find_person(person)
        gallery.enroll(person, NewFace.from_face(face, sha256, pipeline.model_id), create=True)

    try:
        pipeline.analyze(images[0].read_bytes())  # warm-up: first-call kernel selection
        with fresh_gallery(pipeline.model_id) as gallery:
            for path in images:
                data, sha256 = timed("read + hash", read_and_hash, path)
                image = timed("decode", load_image, data, pipeline.options.max_pixels)
                found = timed("detect", pipeline.detect, image)
                faces = [timed("landmarks + chip", align, image, d) for d in found]
                if not faces:
                    continue
                embeddings = timed("embed", pipeline.embed, image, faces)
                face = dataclasses.replace(faces[0], embedding=embeddings[0])
                person = path.parent.name.replace("_", " ")
                timed("store", store, gallery, person, face, sha256)
    finally:
        torch.set_num_threads(before)
    return spent


def print_runs(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'workers':>7}{'threads':>8}{'images':>8}{'seconds':>9}{'img/s':>8}{'after 1st':>10}"
        f"{'enrolled':>9}{'main face':>10}{'no face':>8}{'several':>8}{'unreadable':>11}"
        f"{'load start':>16}{'load end':>16}"
    )
    for r in rows:
        c = r["counts"]
        load = ["/".join(f"{v:.2f}" for v in r[k][:2]) for k in ("loadavg_start", "loadavg_end")]
        print(
            f"{r['workers']:>7}{r['torch_threads']:>8}{r['images']:>8}{r['seconds']:>9.1f}"
            f"{r['images_per_s']:>8.2f}{r['images_per_s_after_first']:>10.2f}"
            f"{c['enrolled']:>9}{r['main_face_taken']:>10}{c['no_face']:>8}"
            f"{c['several_faces']:>8}{c['unreadable']:>11}{c['duplicate']:>5}{load[0]:>16}{load[1]:>16}"
        )


def print_stages(stages: dict[str, Any]) -> None:
    columns = list(stages["ms_per_image"])
    print(f"\nstages on {stages['images']} images, ms per image (one image at a time)")
    print(f"{'stage':<18}" + "".join(f"{c:>12}" for c in columns) + f"{'share':>8}")
    first = stages["ms_per_image"][columns[0]]
    total = sum(first.values())
    for stage in STAGES:
        cells = "".join(f"{stages['ms_per_image'][c][stage]:>12.2f}" for c in columns)
        print(f"{stage:<18}{cells}{first[stage] / total:>8.0%}")
    sums = "".join(f"{sum(stages['ms_per_image'][c].values()):>12.2f}" for c in columns)
    print(f"{'sum':<18}{sums}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, required=True, help="LFW folder: <person>/<images>")
    parser.add_argument("--limit", type=int, help="the first N images in sorted order")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 2], help="0: in this process (default 0 2)"
    )
    parser.add_argument(
        "--stage-sample", type=int, default=200, help="images to time stage by stage (0: none)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    images = lfw_images(args.lfw, args.limit)
    if not images:
        raise SystemExit(f"no <person>/<image> files under {args.lfw}")
    pipeline = FacePipeline.from_settings(Settings.from_env())
    people = len({p.parent.name for p in images})
    report: dict[str, Any] = {
        "benchmark": "enrol",
        "lfw": str(args.lfw),
        "images": len(images),
        "people": people,
        "platform": {
            "system": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "device": str(pipeline.embedder.device),
        "augment": pipeline.options.augment,
        "model_id": pipeline.model_id,
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
        "runs": [],
    }
    print(
        f"{len(images)} LFW images of {people} people, device {pipeline.embedder.device}, "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, "
        f"augment {pipeline.options.augment}, load {os.getloadavg()[0]:.2f}"
    )

    def save() -> None:
        if args.json:
            report["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="bench-enrol-lfw-") as folder:
        source = linked_folder(images, Path(folder))
        for workers in args.workers:
            row = enrol_run(pipeline, source, workers)
            report["runs"].append(row)
            save()
            print(
                f"workers={workers}: {row['images_per_s']:.2f} img/s ({row['seconds']:.0f} s)",
                flush=True,
            )

    if args.stage_sample:
        sample = images[: args.stage_sample]
        threads = sorted({torch.get_num_threads(), 1}, reverse=True)
        ms = {
            f"{t} thread{'s' if t > 1 else ''}": {
                stage: 1e3 * s / len(sample)
                for stage, s in stage_times(pipeline, sample, t).items()
            }
            for t in threads
        }
        report["stages"] = {"images": len(sample), "ms_per_image": ms}
        save()

    print()
    print_runs(report["runs"])
    by_workers = {r["workers"]: r for r in report["runs"]}
    if 0 in by_workers and len(by_workers) > 1:
        base = by_workers[0]["images_per_s"]
        ratios = {
            f"workers_{w}_vs_0": round(r["images_per_s"] / base, 2)
            for w, r in by_workers.items()
            if w
        }
        report["ratios"] = ratios
        for w, r in by_workers.items():
            if w:
                print(f"workers={w} / in-process: {r['images_per_s'] / base:.2f}× images/s")
        enrolled = {w: r["counts"]["enrolled"] for w, r in by_workers.items()}
        if len(set(enrolled.values())) > 1:
            print(f"warning: the runs enrolled different numbers of faces: {enrolled}")
    if "stages" in report:
        print_stages(report["stages"])
    save()
    if args.json:
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
