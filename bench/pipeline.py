"""End-to-end speed: image → faces → embeddings, ours against dlib's own pipelines.

    python -m bench.pipeline --images ../shared/data/lfw [--limit 200] [--json OUT]

Same images, same run. Ours: CNN (mmod) detector in PyTorch → 5 landmarks → chip →
face ResNet (chips embedded in batches). dlib (reference, ``dlib-bin``): its HOG detector
(upsample 1, as ``face_recognition`` does) and, on fewer images because it is slow, its CNN
detector; then ``shape_predictor`` → ``compute_face_descriptor`` (which aligns the chip itself).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from engine.faces.model_files import (
    FACE_RESNET_FILE,
    LANDMARKS_5_FILE,
    MMOD_DETECTOR_FILE,
    model_path,
)
from engine.faces.pipeline import FacePipeline
from engine.images import IMAGE_SUFFIXES, load_image


def find_images(root: Path, limit: int) -> list[Path]:
    """The first ``limit`` images under ``root`` in sorted order (deterministic)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.append(path)
            if len(found) >= limit:
                break
    return found


def time_ours(pipeline: FacePipeline, images: list[np.ndarray]) -> tuple[float, int]:
    start = time.perf_counter()
    faces = pipeline.analyze_many(images)
    return time.perf_counter() - start, sum(len(f) for f in faces)


def time_dlib(images: list[np.ndarray], detector_kind: str) -> tuple[float, int]:
    import dlib

    if detector_kind == "hog":
        hog = dlib.get_frontal_face_detector()

        def detect(img):
            return list(hog(img, 1))
    else:
        cnn = dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR_FILE)))

        def detect(img):
            return [d.rect for d in cnn(img, 0)]

    shapes = dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))
    resnet = dlib.face_recognition_model_v1(str(model_path(FACE_RESNET_FILE)))
    start = time.perf_counter()
    count = 0
    for img in images:
        for rect in detect(img):
            resnet.compute_face_descriptor(img, shapes(img, rect))
            count += 1
    return time.perf_counter() - start, count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of images (recursive)")
    parser.add_argument("--limit", type=int, default=200, help="images to time (default 200)")
    parser.add_argument("--cnn-limit", type=int, default=20, help="images for dlib's slow CNN")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    paths = find_images(args.images, args.limit)
    if not paths:
        raise SystemExit(f"no images under {args.images}")
    images = [load_image(p) for p in paths]
    torch.set_num_threads(args.threads)
    pipeline = FacePipeline.load()
    pipeline.analyze_many(images[:2])  # warm-up: first-call kernel selection
    sizes = {f"{im.shape[1]}x{im.shape[0]}" for im in images}
    print(f"{len(images)} images ({', '.join(sorted(sizes)[:3])}), torch threads {args.threads}")

    rows = []
    seconds, faces = time_ours(pipeline, images)
    rows.append(("ours: mmod (torch) + 5pt + chip + resnet", len(images), seconds, faces))
    try:
        seconds, faces = time_dlib(images, "hog")
        rows.append(("dlib: HOG + 5pt + descriptor", len(images), seconds, faces))
        subset = images[: args.cnn_limit]
        seconds, faces = time_dlib(subset, "cnn")
        rows.append(("dlib: CNN mmod + 5pt + descriptor", len(subset), seconds, faces))
        ours_subset = time_ours(pipeline, subset)
        rows.append(("ours on the CNN subset", len(subset), *ours_subset))
    except ImportError:
        print("dlib not installed: reference rows skipped (pip install dlib-bin)")

    print(f"\n{'pipeline':<44}{'images':>7}{'faces':>7}{'ms/img':>9}{'img/s':>8}")
    table = []
    for name, n, seconds, faces in rows:
        per = 1e3 * seconds / n
        print(f"{name:<44}{n:>7}{faces:>7}{per:>9.1f}{n / seconds:>8.1f}")
        table.append(
            {
                "pipeline": name,
                "images": n,
                "faces": faces,
                "seconds": seconds,
                "ms_per_image": per,
                "images_per_s": n / seconds,
            }
        )
    ratios = {}
    if len(rows) == 4:
        ours_rate = rows[0][1] / rows[0][2]
        ratios["ours_vs_dlib_hog"] = ours_rate / (rows[1][1] / rows[1][2])
        ratios["ours_vs_dlib_cnn"] = (rows[3][1] / rows[3][2]) / (rows[2][1] / rows[2][2])
        print(
            f"\nours / dlib HOG pipeline: {ratios['ours_vs_dlib_hog']:.2f}x"
            f"   ours / dlib CNN pipeline: {ratios['ours_vs_dlib_cnn']:.1f}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "rows": table,
                    "ratios": ratios,
                    "threads": args.threads,
                    "device": str(pipeline.embedder.device),
                },
                indent=1,
            )
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
