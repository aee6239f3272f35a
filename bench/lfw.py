"""LFW verification benchmark of our face pipeline.

    python -m bench.lfw --lfw ../shared/data/lfw --pairs ../shared/data/lfw/pairsDevTest.txt \
        --train-pairs ../shared/data/lfw/pairsDevTrain.txt [--json OUT]

Every image of the pairs files goes through detect → landmarks → chip → embed. Per image we
keep the detected face nearest the image centre (LFW's subject is centred). When the detector
finds nothing at upsample 0 we retry at upsample 1; when that finds nothing either we fall back
to a fixed centred box: the median of the boxes detected in this run (LFW deep-funneled images
are aligned, so the subject's box barely moves). Embeddings are cached under ``--cache``.

Variants scored side by side: the plain chip, and the mean of the chip's and its mirror's
embeddings (test-time augmentation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.evaluation.metrics import (
    accuracy_at,
    best_threshold,
    equal_error_rate,
    kfold_accuracy,
    roc_auc,
    tar_at_far,
)
from engine.evaluation.pairs import Pair, read_pairs
from engine.faces.pipeline import FacePipeline
from engine.faces.types import Box
from engine.images import load_image

CACHE_VERSION = 1
FALLBACK_NONE, FALLBACK_UPSAMPLE, FALLBACK_CENTRED_BOX = 0, 1, 2


@dataclass
class EmbeddedImages:
    paths: list[str]
    plain: np.ndarray
    mirrored: np.ndarray
    fallback: np.ndarray
    faces_found: np.ndarray
    timings: dict[str, float]

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}


def embed_images(pipeline: FacePipeline, root: Path, paths: list[str]) -> EmbeddedImages:
    """Run the pipeline on each image; time each stage."""
    t_load = t_detect = t_align = 0.0
    found: list[tuple[np.ndarray, Box | None, int, int]] = []
    for n, rel in enumerate(paths):
        t0 = time.perf_counter()
        image = load_image(root / rel)
        t1 = time.perf_counter()
        fallback = FALLBACK_NONE
        detections = pipeline.detector.detect(image, upsample=0)
        if not detections:
            fallback = FALLBACK_UPSAMPLE
            detections = pipeline.detector.detect(image, upsample=1)
        t2 = time.perf_counter()
        t_load += t1 - t0
        t_detect += t2 - t1
        box = _nearest_centre(image, [d.box for d in detections])
        found.append((image, box, fallback, len(detections)))
        if (n + 1) % 500 == 0:
            print(f"  detected {n + 1}/{len(paths)}", flush=True)
    detected = [b for _, b, _, _ in found if b is not None]
    centred = _median_box(detected) if detected else None
    chips, fallbacks = [], []
    for image, box, fallback, _ in found:
        if box is None:
            fallback = FALLBACK_CENTRED_BOX
            box = centred or Box(0, 0, image.shape[1] - 1, image.shape[0] - 1)
        t0 = time.perf_counter()
        chips.append(pipeline.align(image, box)[1])
        t_align += time.perf_counter() - t0
        fallbacks.append(fallback)
    stacked = np.stack(chips)
    t0 = time.perf_counter()
    plain = pipeline.embedder.embed_chips(stacked, batch_size=64)
    t_embed = time.perf_counter() - t0
    mirrored = pipeline.embedder.embed_chips(stacked, batch_size=64, mirror=True)
    n = len(paths)
    return EmbeddedImages(
        paths=list(paths),
        plain=plain,
        mirrored=mirrored,
        fallback=np.array(fallbacks),
        faces_found=np.array([k for _, _, _, k in found]),
        timings={
            "decode_ms": 1e3 * t_load / n,
            "detect_ms": 1e3 * t_detect / n,
            "landmarks_chip_ms": 1e3 * t_align / n,
            "embed_ms": 1e3 * t_embed / n,
        },
    )


def _nearest_centre(image: np.ndarray, boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    cy, cx = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    return min(boxes, key=lambda b: (b.center[0] - cx) ** 2 + (b.center[1] - cy) ** 2)


def _median_box(boxes: list[Box]) -> Box:
    a = np.array([[b.left, b.top, b.right, b.bottom] for b in boxes])
    return Box(*np.round(np.median(a, axis=0)).tolist())


def load_or_embed(
    pipeline: FacePipeline, root: Path, paths: list[str], cache_dir: Path
) -> EmbeddedImages:
    key = hashlib.sha256(
        json.dumps([CACHE_VERSION, pipeline.model_id, str(root.resolve()), sorted(paths)]).encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"lfw-{key}.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        print(f"embeddings from cache {cache}")
        return EmbeddedImages(
            paths=[str(p) for p in z["paths"]],
            plain=z["plain"],
            mirrored=z["mirrored"],
            fallback=z["fallback"],
            faces_found=z["faces_found"],
            timings=json.loads(str(z["timings"])),
        )
    result = embed_images(pipeline, root, paths)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        paths=np.array(result.paths),
        plain=result.plain,
        mirrored=result.mirrored,
        fallback=result.fallback,
        faces_found=result.faces_found,
        timings=json.dumps(result.timings),
    )
    return result


def pair_distances(pairs: list[Pair], embeddings: np.ndarray, index: dict[str, int]) -> np.ndarray:
    a = embeddings[[index[p.image_a] for p in pairs]]
    b = embeddings[[index[p.image_b] for p in pairs]]
    return np.linalg.norm(a - b, axis=1)


def score(
    test_d: np.ndarray, test_pairs: list[Pair], train_d: np.ndarray | None, train_pairs: list[Pair]
) -> dict:
    same = np.array([p.same for p in test_pairs])
    folds = np.array([p.fold for p in test_pairs])
    out: dict = {}
    if len(np.unique(folds)) > 1:
        accs, thresholds = kfold_accuracy(test_d, same, folds)
        out["accuracy"] = float(np.mean(accs))
        out["accuracy_std"] = float(np.std(accs))
        out["protocol"] = f"{len(accs)}-fold, threshold chosen on the other folds"
        out["threshold"] = float(np.mean(thresholds))
    elif train_d is not None:
        train_same = np.array([p.same for p in train_pairs])
        threshold = best_threshold(train_d, train_same)
        out["accuracy"] = accuracy_at(test_d, same, threshold)
        out["protocol"] = "threshold chosen on --train-pairs"
        out["threshold"] = threshold
    else:
        threshold = best_threshold(test_d, same)
        out["accuracy"] = accuracy_at(test_d, same, threshold)
        out["protocol"] = "threshold chosen on the test pairs themselves (optimistic)"
        out["threshold"] = threshold
    out["accuracy_at_0.6"] = accuracy_at(test_d, same, 0.6)
    out["roc_auc"] = roc_auc(test_d, same)
    eer, eer_threshold = equal_error_rate(test_d, same)
    out["eer"], out["eer_threshold"] = eer, eer_threshold
    for far in (1e-2, 1e-3):
        r = tar_at_far(test_d, same, far)
        out[f"tar_at_far_{far:g}"] = {
            "tar": r.tar,
            "threshold": r.threshold,
            "impostor_pairs": r.impostor_pairs,
            "measurable": r.measurable,
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, required=True, help="LFW image root")
    parser.add_argument("--pairs", type=Path, required=True, help="pairs file to score")
    parser.add_argument("--train-pairs", type=Path, help="View 1: pairs to pick the threshold on")
    parser.add_argument("--json", type=Path, help="write all figures and per-pair distances here")
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="embedding cache")
    parser.add_argument("--no-cache", action="store_true", help="recompute, ignoring the cache")
    args = parser.parse_args(argv)

    test_pairs = read_pairs(args.pairs)
    train_pairs = read_pairs(args.train_pairs) if args.train_pairs else []
    paths = sorted({p for pair in test_pairs + train_pairs for p in (pair.image_a, pair.image_b)})
    missing = [p for p in paths if not (args.lfw / p).is_file()]
    if missing:
        raise SystemExit(f"{len(missing)} images of the pairs are missing, e.g. {missing[0]}")
    print(f"{len(test_pairs)} test pairs, {len(train_pairs)} train pairs, {len(paths)} images")

    pipeline = FacePipeline.load()
    t0 = time.perf_counter()
    if args.no_cache:
        images = embed_images(pipeline, args.lfw, paths)
    else:
        images = load_or_embed(pipeline, args.lfw, paths, args.cache)
    print(f"embedding stage: {time.perf_counter() - t0:.1f} s")
    index = images.index()

    variants = {"chip": images.plain, "chip + mirror": images.mirrored}
    results = {}
    for name, emb in variants.items():
        test_d = pair_distances(test_pairs, emb, index)
        train_d = pair_distances(train_pairs, emb, index) if train_pairs else None
        results[name] = score(test_d, test_pairs, train_d, train_pairs)
        results[name]["distances"] = test_d.round(6).tolist()

    by_upsample = int((images.fallback == FALLBACK_UPSAMPLE).sum())
    by_box = int((images.fallback == FALLBACK_CENTRED_BOX).sum())
    several = int((images.faces_found > 1).sum())
    print()
    print(
        f"{'variant':<16}{'acc':>8}{'thr':>8}{'acc@0.6':>9}{'AUC':>8}{'EER':>7}"
        f"{'TAR@1e-2':>10}{'TAR@1e-3':>10}"
    )
    for name, r in results.items():
        t2, t3 = r["tar_at_far_0.01"], r["tar_at_far_0.001"]
        print(
            f"{name:<16}{100 * r['accuracy']:>7.2f}%{r['threshold']:>8.3f}"
            f"{100 * r['accuracy_at_0.6']:>8.2f}%{r['roc_auc']:>8.4f}{100 * r['eer']:>6.2f}%"
            f"{100 * t2['tar']:>9.2f}%{100 * t3['tar']:>9.2f}%" + ("" if t3["measurable"] else "*")
        )
    impostors = results["chip"]["tar_at_far_0.01"]["impostor_pairs"]
    print(
        f"protocol: {results['chip']['protocol']}; {impostors} impostor pairs"
        + ("; * = too few impostor pairs to measure that FAR" if impostors < 1000 else "")
    )
    print(
        f"images: {len(paths)}; no face at upsample 0: {by_upsample + by_box}"
        f" (found at upsample 1: {by_upsample}, centred-box fallback: {by_box});"
        f" several faces (nearest centre kept): {several}"
    )
    t = images.timings
    rate = {k: (1e3 / v if v > 0 else float("inf")) for k, v in t.items()}
    print("per image: " + ", ".join(f"{k[:-3]} {v:.1f} ms ({rate[k]:.0f}/s)" for k, v in t.items()))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "pairs": str(args.pairs),
                    "train_pairs": str(args.train_pairs) if args.train_pairs else None,
                    "model_id": pipeline.model_id,
                    "images": len(paths),
                    "no_face_at_upsample_0": by_upsample + by_box,
                    "found_at_upsample_1": by_upsample,
                    "centred_box_fallback": by_box,
                    "several_faces": several,
                    "timings_ms_per_image": t,
                    "variants": results,
                    "pairs_list": [[p.image_a, p.image_b, p.same, p.fold] for p in test_pairs],
                },
                indent=1,
            )
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
