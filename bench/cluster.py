"""Face clustering on LFW: ours against dlib's Chinese Whispers, in one run.

    python -m bench.cluster --lfw ../shared/data/lfw [--sizes 1000 4000 13233] [--json OUT]
        [--cached-only] [--compare] [--no-dlib]

Design (seeded, deterministic):

* LFW's people are shuffled once (``--seed``); a size N takes the first N images of that order
  (all of one person's images, in file order, before the next person's), so each size is a
  prefix of the next. ``--cached-only`` keeps, in the same order, only images whose embedding
  is already in our cache (no embedding is computed then).
* The subject of an image is the face nearest its centre (LFW's convention; a centred box when
  no face is found), its true label the person's folder.
* Ours: ``engine.clustering`` on the app's embeddings (``FacePipeline.from_settings``: CNN
  detector, mirror test-time augmentation), cached under ``--cache`` as ``bench.open_set``
  caches them; the wall time is the clustering alone (embeddings cached), as the issue asks.
* dlib (reference, ``dlib-bin``): its own pipeline — HOG detector (upsample 1, face nearest the
  centre, the CNN detector when HOG finds none, a centred box when neither does), 5-point
  landmarks, ``compute_face_descriptor`` — then ``dlib.chinese_whispers_clustering`` at its
  usual 0.5. Its descriptors are cached per image under ``--cache`` too; its wall time is the
  clustering call alone. A third row runs our clustering on dlib's descriptors, to tell the
  algorithm's share of the difference from the embeddings'.
* Scores: BCubed precision / recall / F and pairwise F (``engine.clustering.metrics``), number
  of clusters (all, and of two faces or more). ``--compare`` adds every method of
  ``engine.clustering.methods`` at a grid of thresholds (how the default was chosen).

Timings on a shared 2-core machine are noisy: compare the two columns of one run.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from bench.open_set import embed, lfw_people
from engine.clustering import ClusterOptions, cluster_embeddings, cluster_scores
from engine.clustering.methods import METHODS, THRESHOLD_FREE
from engine.clustering.options import DEFAULT_THRESHOLD, collection_threshold
from engine.config import Settings
from engine.evaluation.embedding import centred_box
from engine.evaluation.embedding_cache import EmbeddingCache
from engine.faces.pipeline import FacePipeline

SIZES = (1000, 4000, 13233)
TARGET_SECONDS = 30.0
"""The issue's bound for clustering all 13,233 LFW images (embeddings cached)."""
COMPARE_THRESHOLDS = (0.40, 0.42, 0.44, 0.46, 0.48, 0.50, 0.55)
DLIB_THRESHOLD = 0.5


def shuffled_images(people: dict[str, list[str]], seed: int) -> list[str]:
    """Every image, people in a seeded random order, each person's images in file order."""
    names = sorted(people)
    np.random.default_rng(seed).shuffle(names)
    return [image for name in names for image in people[name]]


def cached_images(pipeline: FacePipeline, root: Path, images: list[str], cache: Path) -> list[str]:
    """The images whose embedding (LFW convention, centred fallback) is already cached."""
    store = EmbeddingCache(cache, pipeline.model_id, pipeline.options.augment)
    keys = [store.key(root / image, True) for image in images]
    known = store.lookup(keys)
    return [image for image, key in zip(images, keys, strict=True) if key in known]


# --- dlib's reference ------------------------------------------------------------------------
class DlibReference:
    """dlib's face pipeline and Chinese Whispers (test-time reference; never at run time)."""

    def __init__(self, cache: Path) -> None:
        import dlib

        from engine.faces.model_files import (
            FACE_RESNET_FILE,
            LANDMARKS_5_FILE,
            MMOD_DETECTOR_FILE,
            model_path,
        )

        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.cnn = dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR_FILE)))
        self.shapes = dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))
        self.resnet = dlib.face_recognition_model_v1(str(model_path(FACE_RESNET_FILE)))
        self.cache = EmbeddingCache(cache, "dlib-reference-hog-cnn", "none")
        self.cnn_fallbacks = 0

    def descriptor(self, path: Path) -> np.ndarray:
        """dlib's 128-d descriptor of the face nearest the image centre."""
        from PIL import Image

        image = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
        h, w = image.shape[:2]
        rects = list(self.hog(image, 1))
        if not rects:
            self.cnn_fallbacks += 1
            rects = [d.rect for d in self.cnn(image, 1)]
        if rects:
            rect = min(
                rects,
                key=lambda r: (r.center().x - (w - 1) / 2) ** 2 + (r.center().y - (h - 1) / 2) ** 2,
            )
        else:
            box = centred_box(image)
            rect = self.dlib.rectangle(
                round(box.left), round(box.top), round(box.right), round(box.bottom)
            )
        shape = self.shapes(image, rect)
        return np.asarray(self.resnet.compute_face_descriptor(image, shape), dtype=np.float32)

    def descriptors(self, root: Path, images: list[str]) -> np.ndarray:
        """Descriptors of ``images``, computed once and cached per image (by content, as
        ``EmbeddingCache`` keys ours)."""
        keys = [self.cache.key(root / image, True) for image in images]
        known = self.cache.lookup(keys)
        todo = [i for i, key in enumerate(keys) if key not in known]
        started = time.perf_counter()
        for n, start in enumerate(range(0, len(todo), 50)):
            chunk = todo[start : start + 50]
            fresh = {keys[i]: (self.descriptor(root / images[i]), 0) for i in chunk}
            self.cache.store(fresh)
            known.update(fresh)
            done = start + len(chunk)
            rate = done / max(time.perf_counter() - started, 1e-9)
            if n % 4 == 3 or done == len(todo):
                print(f"\r  dlib descriptors {done:,}/{len(todo):,} ({rate:.1f}/s)", end="")
        if todo:
            print()
        return np.stack([known[key][0] for key in keys])

    def cluster(self, descriptors: np.ndarray, threshold: float) -> np.ndarray:
        """``dlib.chinese_whispers_clustering`` (all N² pairs under ``threshold``)."""
        vectors = [self.dlib.vector(row.astype(np.float64).tolist()) for row in descriptors]
        return np.asarray(self.dlib.chinese_whispers_clustering(vectors, threshold), np.int64)


# --- measuring ----------------------------------------------------------------------------------
def timed_labels(embeddings: np.ndarray, options: ClusterOptions) -> tuple[np.ndarray, float]:
    """Labels and wall time of the whole clustering (neighbours, method, clusters built)."""
    started = time.perf_counter()
    clustering = cluster_embeddings(embeddings, options=options)
    return clustering.labels, time.perf_counter() - started


def row(who: str, size: int, labels: np.ndarray, truth: list[str], seconds: float) -> dict:
    scores = cluster_scores(labels, truth)
    return {"who": who, "images": size, "seconds": seconds, **scores.as_dict()}


def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'images':>7} {'clustering':<40} {'B3 P':>6} {'B3 R':>6} {'B3 F':>6} "
        f"{'pair F':>7} {'clusters':>9} {'≥2':>6} {'people':>7} {'wall s':>8}"
    )
    for r in rows:
        print(
            f"{r['images']:>7,} {r['who']:<40} {r['bcubed_precision']:>6.3f} "
            f"{r['bcubed_recall']:>6.3f} {r['bcubed_f']:>6.3f} {r['pairwise_f']:>7.3f} "
            f"{r['clusters']:>9,} {r['clusters_of_two_or_more']:>6,} {r['people']:>7,} "
            f"{r['seconds']:>8.2f}"
        )


def lfw_shaped(
    embeddings: np.ndarray, truth: list[str], counts: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic faces with LFW's exact people sizes (``counts``): centres drawn from a Gaussian
    fitted to the measured people's mean embeddings, plus within-person spread drawn from the
    measured residuals' covariance (as ``reference-figures.md``'s search benchmark made its
    100,000 faces). For timing the full size when only part of LFW is embedded."""
    names, person = np.unique(truth, return_inverse=True)
    x = embeddings.astype(np.float64)
    means = np.stack([x[person == i].mean(0) for i in range(len(names))])
    several = np.bincount(person)[person] >= 2
    residuals = (x - means[person])[several]
    rng = np.random.default_rng(seed)
    centres = rng.multivariate_normal(means.mean(0), np.cov(means.T), len(counts))
    labels = np.repeat(np.arange(len(counts)), counts)
    spread = rng.multivariate_normal(np.zeros(x.shape[1]), np.cov(residuals.T), len(labels))
    return (centres[labels] + spread).astype(np.float32), labels


def growth(sizes: list[int], seconds: list[float], target: int) -> tuple[float, float]:
    """(exponent b of t ≈ a·Nᵇ fitted on the two largest sizes, the time it predicts at
    ``target``)."""
    if len(sizes) < 2 or min(seconds[-2:]) <= 0:
        return math.nan, math.nan
    b = math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2])
    return b, seconds[-1] * (target / sizes[-1]) ** b


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lfw", type=Path, default=Path("/work/shared/data/lfw"))
    parser.add_argument("--cache", type=Path, default=Path("bench/results/cache"))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default=ClusterOptions().method, choices=sorted(METHODS))
    parser.add_argument(
        "--threshold", type=float, help="ours (default: collection_threshold of each size)"
    )
    parser.add_argument("--k", type=int, default=ClusterOptions().k)
    parser.add_argument("--dlib-threshold", type=float, default=DLIB_THRESHOLD)
    parser.add_argument("--cached-only", action="store_true", help="use only cached embeddings")
    parser.add_argument("--compare", action="store_true", help="every method × thresholds")
    parser.add_argument("--no-dlib", action="store_true", help="skip dlib's reference")
    parser.add_argument(
        "--no-timing", action="store_true", help="skip the LFW-shaped full-size timing"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    people = lfw_people(args.lfw)
    pipeline = FacePipeline.from_settings(Settings.from_env())
    order = shuffled_images(people, args.seed)
    if args.cached_only:
        order = cached_images(pipeline, args.lfw, order, args.cache)
    sizes = sorted({min(s, len(order)) for s in args.sizes if s > 0})
    images = order[: sizes[-1]]
    truth = [image.split("/")[0] for image in images]
    print(
        f"LFW {args.lfw}: {len(people):,} people; {len(images):,} images in the largest size "
        f"({'cached only' if args.cached_only else 'embedding what is missing'}); model "
        f"{pipeline.model_id}, augment {pipeline.options.augment}"
    )
    ours = embed(pipeline, args.lfw, images, args.cache).astype(np.float32)
    reference = None if args.no_dlib else DlibReference(args.cache)
    theirs = reference.descriptors(args.lfw, images) if reference else None
    if reference and reference.cnn_fallbacks:
        print(f"  dlib: HOG found no face in {reference.cnn_fallbacks} new images (CNN used)")

    rows: list[dict] = []
    compare: list[dict] = []
    for size in sizes:
        threshold = args.threshold or collection_threshold(size, pipeline.model_id).value
        options = ClusterOptions(args.method, threshold, args.k, seed=args.seed)
        ours_name = f"ours: {options.method} t={threshold:.3f}"
        labels, seconds = timed_labels(ours[:size], options)
        rows.append(row(ours_name, size, labels, truth[:size], seconds))
        if reference is not None and theirs is not None:
            started = time.perf_counter()
            labels = reference.cluster(theirs[:size], args.dlib_threshold)
            seconds = time.perf_counter() - started
            who = f"dlib: chinese_whispers t={args.dlib_threshold:g}"
            rows.append(row(who, size, labels, truth[:size], seconds))
            labels, seconds = timed_labels(theirs[:size], options)
            who = f"ours, on dlib's descriptors t={threshold:.3f}"
            rows.append(row(who, size, labels, truth[:size], seconds))
        if args.compare:
            for method in METHODS:
                grid = (DEFAULT_THRESHOLD,) if method in THRESHOLD_FREE else COMPARE_THRESHOLDS
                for threshold in grid:
                    trial = ClusterOptions(method, threshold, args.k, seed=args.seed)
                    labels, seconds = timed_labels(ours[:size], trial)
                    who = method if method in THRESHOLD_FREE else f"{method} t={threshold:g}"
                    compare.append(row(who, size, labels, truth[:size], seconds))
    if compare:
        print("\nEvery method on our embeddings (--compare):")
        print_table(compare)
    print_table(rows)

    summary: dict[str, float] = {}
    ours_rows = [r for r in rows if r["who"].startswith("ours: ")]
    dlib_rows = [r for r in rows if r["who"].startswith("dlib")]
    for mine, theirs_row in zip(ours_rows, dlib_rows, strict=False):
        gain = mine["bcubed_f"] - theirs_row["bcubed_f"]
        ratio = theirs_row["seconds"] / max(mine["seconds"], 1e-9)
        print(
            f"{mine['images']:>7,} images: BCubed F ours − dlib = {gain:+.3f} (target ≥ +0.020)"
            f"; ours {ratio:.1f}× dlib's speed"
        )
        summary[f"bcubed_f_gain_{mine['images']}"] = gain
    full = 13233
    b, predicted = growth([r["images"] for r in ours_rows], [r["seconds"] for r in ours_rows], full)
    if ours_rows and ours_rows[-1]["images"] < full and math.isfinite(predicted):
        print(
            f"ours: time grows as N^{b:.2f} between the two largest sizes; at {full:,} images "
            f"about {predicted:.1f} s (target < {TARGET_SECONDS:g} s)"
        )
        summary.update(growth_exponent=b, predicted_seconds_13233=predicted)
    timing: dict = {}
    if ours_rows and ours_rows[-1]["images"] < full and not args.no_timing:
        counts = [len(images_of) for images_of in people.values()]
        shaped, shaped_truth = lfw_shaped(ours, truth, counts, args.seed)
        threshold = args.threshold or collection_threshold(len(shaped), pipeline.model_id).value
        options = ClusterOptions(args.method, threshold, args.k, seed=args.seed)
        labels, seconds = timed_labels(shaped, options)
        who = f"ours: {options.method} t={threshold:.3f} (LFW-shaped synthetic)"
        timing = row(who, len(shaped), labels, shaped_truth, seconds)
        print(
            f"ours on {len(shaped):,} synthetic faces shaped as all of LFW ({len(counts):,} "
            f"people; timing only, scores are not LFW's): {seconds:.1f} s "
            f"(target < {TARGET_SECONDS:g} s)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "model_id": pipeline.model_id,
                    "augment": pipeline.options.augment,
                    "seed": args.seed,
                    "cached_only": args.cached_only,
                    "rows": rows,
                    "compare": compare,
                    "summary": summary,
                    "full_size_timing": timing,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
