"""LFW verification benchmark of our face pipeline.

    python -m bench.lfw --lfw ../shared/data/lfw --pairs ../shared/data/lfw/pairsDevTest.txt \
        --train-pairs ../shared/data/lfw/pairsDevTrain.txt [--json OUT]

Every image of the pairs files goes through detect → landmarks → chip → embed. Per image we
keep the detected face nearest the image centre (LFW's subject is centred). When the detector
finds nothing at upsample 0 we retry at upsample 1; when that finds nothing either we fall back
to a fixed centred box of 40 % of the image side (LFW deep-funneled images are aligned, so the
subject's face sits there). Embeddings are cached under ``--cache``.

Variants scored side by side are the engine's test-time augmentation presets
(``engine.faces.jitter.AUGMENTATIONS``): "none" (dlib's descriptor), "mirror" (mean with the
mirrored chip), "jitter" (±2 % shifted crops, each with its mirror). With --train-pairs, the
"train acc" column (threshold fitted on the train pairs themselves) is the fair way to pick a
variant; the test accuracy uses the threshold chosen on the train pairs.
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
from engine.evaluation.pairs_file import Pair, read_pairs
from engine.faces.jitter import AUGMENTATIONS
from engine.faces.pipeline import Face, FacePipeline
from engine.faces.types import Box
from engine.images import load_image

CACHE_VERSION = 2
FALLBACK_NONE, FALLBACK_UPSAMPLE, FALLBACK_CENTRED_BOX = 0, 1, 2


@dataclass
class EmbeddedImages:
    paths: list[str]
    embeddings: dict[str, np.ndarray]
    """Per test-time augmentation preset: (images, 128)."""
    fallback: np.ndarray
    faces_found: np.ndarray
    timings: dict[str, float]

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}


def embed_images(
    pipeline: FacePipeline, root: Path, paths: list[str], chunk: int = 256
) -> EmbeddedImages:
    """Run the pipeline on each image, embedding it under every augmentation preset."""
    timings = dict.fromkeys(["decode_ms", "detect_ms", "landmarks_chip_ms"], 0.0)
    timings.update({f"embed_{name}_ms": 0.0 for name in AUGMENTATIONS})
    embeddings: dict[str, list[np.ndarray]] = {name: [] for name in AUGMENTATIONS}
    fallbacks, faces_found = [], []
    for start in range(0, len(paths), chunk):
        batch = []
        for rel in paths[start : start + chunk]:
            t0 = time.perf_counter()
            image = load_image(root / rel)
            t1 = time.perf_counter()
            fallback = FALLBACK_NONE
            detections = pipeline.detector.detect(image, upsample=0)
            if not detections:
                fallback = FALLBACK_UPSAMPLE
                detections = pipeline.detector.detect(image, upsample=1)
            t2 = time.perf_counter()
            box = _nearest_centre(image, [d.box for d in detections])
            if box is None:
                fallback = FALLBACK_CENTRED_BOX
                box = _centred_box(image)
            points, chip = pipeline.align(image, box)
            t3 = time.perf_counter()
            timings["decode_ms"] += t1 - t0
            timings["detect_ms"] += t2 - t1
            timings["landmarks_chip_ms"] += t3 - t2
            batch.append((image, Face(box, 0.0, points, chip)))
            fallbacks.append(fallback)
            faces_found.append(len(detections))
        for name in AUGMENTATIONS:
            variant = pipeline.with_options(augment=name)
            t0 = time.perf_counter()
            views = [v for image, face in batch for v in variant.views(image, [face])]
            embeddings[name].append(variant.embed_views(views, len(batch)))
            timings[f"embed_{name}_ms"] += time.perf_counter() - t0
        print(f"  {min(start + chunk, len(paths))}/{len(paths)} images", flush=True)
    n = len(paths)
    return EmbeddedImages(
        paths=list(paths),
        embeddings={name: np.concatenate(parts) for name, parts in embeddings.items()},
        fallback=np.array(fallbacks),
        faces_found=np.array(faces_found),
        timings={k: 1e3 * v / n for k, v in timings.items()},
    )


def _centred_box(image: np.ndarray) -> Box:
    """LFW deep-funneled images centre the subject's face; about 100 px of 250 is the face."""
    h, w = image.shape[:2]
    side = 0.4 * min(h, w)
    return Box((w - side) / 2, (h - side) / 2, (w + side) / 2 - 1, (h + side) / 2 - 1)


def _nearest_centre(image: np.ndarray, boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    cy, cx = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    return min(boxes, key=lambda b: (b.center[0] - cx) ** 2 + (b.center[1] - cy) ** 2)


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
            embeddings={name: z[f"embed_{name}"] for name in AUGMENTATIONS},
            fallback=z["fallback"],
            faces_found=z["faces_found"],
            timings=json.loads(str(z["timings"])),
        )
    result = embed_images(pipeline, root, paths)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        paths=np.array(result.paths),
        **{f"embed_{name}": e for name, e in result.embeddings.items()},
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
        out["train_accuracy"] = accuracy_at(train_d, train_same, threshold)
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

    results = {}
    for name, emb in images.embeddings.items():
        test_d = pair_distances(test_pairs, emb, index)
        train_d = pair_distances(train_pairs, emb, index) if train_pairs else None
        results[name] = score(test_d, test_pairs, train_d, train_pairs)
        results[name]["distances"] = test_d.round(6).tolist()

    by_upsample = int((images.fallback == FALLBACK_UPSAMPLE).sum())
    by_box = int((images.fallback == FALLBACK_CENTRED_BOX).sum())
    several = int((images.faces_found > 1).sum())
    print()
    print(
        f"{'variant':<16}{'train acc':>10}{'acc':>8}{'thr':>8}{'acc@0.6':>9}{'AUC':>8}{'EER':>7}"
        f"{'TAR@1e-2':>10}{'TAR@1e-3':>10}"
    )
    for name, r in results.items():
        t2, t3 = r["tar_at_far_0.01"], r["tar_at_far_0.001"]
        train = f"{100 * r['train_accuracy']:>9.2f}%" if "train_accuracy" in r else f"{'-':>10}"
        print(
            f"{name:<16}{train}{100 * r['accuracy']:>7.2f}%{r['threshold']:>8.3f}"
            f"{100 * r['accuracy_at_0.6']:>8.2f}%{r['roc_auc']:>8.4f}{100 * r['eer']:>6.2f}%"
            f"{100 * t2['tar']:>9.2f}%{100 * t3['tar']:>9.2f}%" + ("" if t3["measurable"] else "*")
        )
    impostors = results["none"]["tar_at_far_0.01"]["impostor_pairs"]
    print(
        f"protocol: {results['none']['protocol']}; {impostors} impostor pairs"
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
