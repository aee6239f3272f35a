"""Open-set identification on held-out LFW people: the 1:1 threshold against the open-set one.

    python -m bench.open_set --lfw ../shared/data/lfw [--json OUT] [--impostor-table]

Design (seeded, one run embeds every image once; later runs read ``--cache``):

* LFW's 5,749 people are shuffled once. ``--strangers`` of them (any number of images; their
  first image is the probe) are never enrolled.
* Of the rest, ``--probed`` people with two or more images are enrolled first, one-shot from
  their first image; their second image is their known probe. The gallery is then filled up to
  the largest K with the first image of further people (with one image or more), who are
  enrolled but never probed. K = 40 is the first 40 probed people (40 known probes), K = 400
  the 400 probed people, K = 4,000 those 400 plus 3,600 fillers.
* Each probe is compared with all K enrolled people; it is "named" as its nearest person when
  that distance is at or below the threshold, else "unknown". Reported per K: rank-1 of known
  people (named, and as the right person) and the share of strangers called unknown, with the
  1:1 threshold (0.6, the model's published one) and with ``engine.open_set``'s threshold for
  FPIR ``--fpir`` at that K.

``--impostor-table`` prints the per-pair impostor distance quantiles among the fillers (one
image per person, 3,600 people, ~6.5 M pairs) in the form ``engine.open_set`` ships them; the
strangers and probed people are not in those pairs, so the evaluation is on people the table
never saw.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engine.config import Settings
from engine.evaluation.embedding import embed_pair_set
from engine.evaluation.pair_sets import PairSet
from engine.faces.pipeline import FacePipeline
from engine.open_set import IMPOSTOR_QUANTILE_LEVELS, open_set_threshold
from engine.verification import model_threshold

GALLERY_SIZES = (40, 400, 4000)


def lfw_people(root: Path) -> dict[str, list[str]]:
    """Each LFW person's images, as paths relative to ``root``, in file-name order."""
    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(f"{folder.name}/{f.name}" for f in folder.glob("*.jpg"))
        if images:
            people[folder.name] = images
    return people


def split(
    people: dict[str, list[str]], strangers: int, probed: int, largest_k: int, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """(enrolment images in gallery order, known probe images, stranger probe images)."""
    names = sorted(people)
    rng = np.random.default_rng(seed)
    rng.shuffle(names)
    stranger_names, rest = names[:strangers], names[strangers:]
    multi = [n for n in rest if len(people[n]) >= 2][:probed]
    fillers = [n for n in rest if n not in set(multi)][: largest_k - len(multi)]
    enrolled = [people[n][0] for n in multi + fillers]
    known = [people[n][1] for n in multi]
    return enrolled, known, [people[n][0] for n in stranger_names]


def embed(pipeline: FacePipeline, root: Path, images: list[str], cache: Path) -> np.ndarray:
    """Embeddings of ``images`` (LFW convention: face nearest the centre, else a centred box)."""
    empty = np.zeros(0, dtype=np.int64)
    pairs = PairSet(
        name="lfw open-set",
        source="folder",
        root=root,
        images=tuple(images),
        identities=tuple(i.split("/")[0] for i in images),
        a=empty,
        b=empty,
        same=np.zeros(0, dtype=bool),
        folds=empty,
        centred_fallback=True,
    )
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(
                f"\r  embedded {done:,}/{total:,} ({rate:.1f}/s incl. cached)", end="", flush=True
            )

    embedded = embed_pair_set(pipeline, pairs, cache, progress=progress)
    print()
    return embedded.embeddings.astype(np.float64)


def distances(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Euclidean distances, (probes, gallery), in float64."""
    squared = (probes**2).sum(1)[:, None] + (gallery**2).sum(1)[None, :] - 2 * probes @ gallery.T
    return np.sqrt(np.clip(squared, 0, None))


def impostor_quantiles(vectors: np.ndarray) -> tuple[list[float], int]:
    """Distances at ``IMPOSTOR_QUANTILE_LEVELS`` among all pairs of ``vectors`` (one per
    person), computed in blocks so 3,600 people's 6.5 M pairs fit in memory."""
    chunks = []
    for start in range(0, len(vectors), 500):
        block = distances(vectors[start : start + 500], vectors)
        rows = np.arange(start, min(start + 500, len(vectors)))[:, None]
        chunks.append(block[rows < np.arange(len(vectors))[None, :]])
    pairs = np.concatenate(chunks)
    return [float(np.quantile(pairs, q)) for q in IMPOSTOR_QUANTILE_LEVELS], len(pairs)


def score(known_d: np.ndarray, stranger_d: np.ndarray, threshold: float) -> tuple[float, float]:
    """(rank-1 of known people: nearest is the true person (column i) and within the
    threshold; share of strangers whose nearest person is over it)."""
    nearest = known_d.argmin(1)
    right = nearest == np.arange(len(known_d))
    named = known_d.min(1) <= threshold
    return float((right & named).mean()), float((stranger_d.min(1) > threshold).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lfw", type=Path, default=Path("/work/shared/data/lfw"))
    parser.add_argument("--cache", type=Path, default=Path("bench/results/cache"))
    parser.add_argument("--strangers", type=int, default=400)
    parser.add_argument("--probed", type=int, default=400)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(GALLERY_SIZES))
    parser.add_argument("--fpir", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--impostor-table", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    sizes = sorted(args.sizes)
    people = lfw_people(args.lfw)
    enrolled, known, strangers = split(people, args.strangers, args.probed, sizes[-1], args.seed)
    sizes = [k for k in sizes if k <= len(enrolled)]
    settings = Settings.from_env()
    pipeline = FacePipeline.from_settings(settings)
    model_id = pipeline.model_id
    print(
        f"LFW {args.lfw}: {len(people):,} people; enrolled up to {len(enrolled):,} one-shot, "
        f"{len(known)} known probes, {len(strangers)} strangers; model {model_id}, "
        f"augment {pipeline.options.augment}"
    )
    started = time.perf_counter()
    vectors = embed(pipeline, args.lfw, enrolled + known + strangers, args.cache)
    print(f"  embedding took {time.perf_counter() - started:.0f} s")
    gallery_v = vectors[: len(enrolled)]
    known_v = vectors[len(enrolled) : len(enrolled) + len(known)]
    stranger_v = vectors[len(enrolled) + len(known) :]

    if args.impostor_table:
        fillers = gallery_v[len(known) :]
        table, n_pairs = impostor_quantiles(fillers)
        print(f"impostor distance quantiles over {n_pairs:,} pairs of {len(fillers):,} people:")
        print("IMPOSTOR_QUANTILES = (")
        for q, d in zip(IMPOSTOR_QUANTILE_LEVELS, table, strict=True):
            print(f"    {d:.4f},  # F = {q:g}")
        print(")")

    one_to_one = model_threshold(model_id)
    rows = []
    for k in sizes:
        probed = min(k, len(known))
        known_d = distances(known_v[:probed], gallery_v[:k])
        stranger_d = distances(stranger_v, gallery_v[:k])
        open_set = open_set_threshold(model_id, k, args.fpir)
        for label, threshold in (("1:1", one_to_one), ("open-set", open_set.value)):
            rank1, unknown = score(known_d, stranger_d, threshold)
            rows.append(
                {
                    "k": k,
                    "threshold_kind": label,
                    "threshold": threshold,
                    "known_probes": probed,
                    "strangers": len(stranger_v),
                    "rank1_known": rank1,
                    "strangers_unknown": unknown,
                    "strangers_named": 1 - unknown,
                    "target_fpir": args.fpir if label == "open-set" else None,
                }
            )
    print()
    print(f"{'K':>6} {'threshold':>17} {'known rank-1':>13} {'strangers unknown':>18}")
    for row in rows:
        kind = f"{row['threshold_kind']} {row['threshold']:.3f}"
        print(
            f"{row['k']:>6,} {kind:>17} {row['rank1_known']:>12.1%} "
            f"{row['strangers_unknown']:>17.1%}"
        )
    print(
        f"(known rank-1 over {min(sizes[-1], len(known))} probes at most, strangers "
        f"{len(stranger_v)}; open-set threshold for FPIR {args.fpir:g})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"model_id": model_id, "seed": args.seed, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
