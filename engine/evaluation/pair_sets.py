"""Labelled pairs to evaluate on, before any embedding: which images to compare, and whether
each pair shows one person.

Two sources of image files, as an analyst has them: an LFW-format pairs file and its image root
(``pairs_from_file``), or a folder laid out ``<person>/<images>``, from which every genuine pair
and a seeded sample of impostor pairs are taken (``pairs_from_folder``). The enrolled gallery's
pairs come embedded already: ``engine.evaluation.gallery``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np

from engine.errors import VisionLabError
from engine.evaluation.pairs_file import read_pairs
from engine.images import IMAGE_SUFFIXES

DEFAULT_IMPOSTOR_SAMPLE = 5000
"""Impostor pairs drawn when the caller does not say: enough to measure a FAR of 1e-3."""

PairSource = Literal["pairs file", "folder", "gallery"]


class DatasetError(VisionLabError):
    """The pairs cannot be built: missing images, an empty folder, a single person…"""


@dataclass(frozen=True)
class PairSet:
    """Which images to compare and whether each pair shows one person; no embeddings yet."""

    name: str
    """What the user picked, for titles and saved metadata (e.g. ``pairsDevTest.txt``)."""
    source: PairSource
    root: Path
    """Image paths are relative to this folder."""
    images: tuple[str, ...]
    """Each image once, as a POSIX path under ``root`` (a face id for the gallery)."""
    identities: tuple[str, ...]
    """The person in each image."""
    a: np.ndarray = field(repr=False)
    """Index into ``images`` of each pair's first image."""
    b: np.ndarray = field(repr=False)
    same: np.ndarray = field(repr=False)
    folds: np.ndarray = field(repr=False)
    """The fold of each pair (all 0 unless the pairs file is LFW View 2)."""
    note: str = ""
    """How the pairs were made, e.g. how many impostor pairs were sampled from how many."""
    centred_fallback: bool = False
    """When no face is found, embed a centred box instead (LFW's images are centred on the
    face, so its protocol scores every pair); otherwise such images' pairs are dropped."""

    @property
    def genuine(self) -> int:
        return int(self.same.sum())

    @property
    def impostors(self) -> int:
        return int((~self.same).sum())

    @property
    def has_folds(self) -> bool:
        return len(np.unique(self.folds)) > 1

    def image_path(self, index: int) -> Path:
        return self.root / self.images[index]


def pairs_from_file(pairs_file: str | Path, root: str | Path) -> PairSet:
    """The pairs of an LFW View 1 or View 2 file; every image must exist under ``root``."""
    pairs_file, root = Path(pairs_file), Path(root)
    if not pairs_file.is_file():
        raise DatasetError(f"no pairs file at {pairs_file}")
    if not root.is_dir():
        raise DatasetError(f"no image folder at {root}")
    try:
        pairs = read_pairs(pairs_file)
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{pairs_file.name} is not a text pairs file (byte {exc.start} is not UTF-8 text)"
        ) from exc
    images = sorted({p for pair in pairs for p in (pair.image_a, pair.image_b)})
    missing = [p for p in images if not (root / p).is_file()]
    if missing:
        # The line number, not the image's name: the name is the file's content.
        line = min(p.line for p in pairs if missing[0] in (p.image_a, p.image_b))
        raise DatasetError(
            f"{len(missing)} of {len(images)} images of {pairs_file.name} are missing under "
            f"the image folder {root.name}, e.g. one named on line {line}"
        )
    index = {p: i for i, p in enumerate(images)}
    return PairSet(
        name=pairs_file.name,
        source="pairs file",
        root=root,
        images=tuple(images),
        identities=tuple(PurePosixPath(p).parts[0] for p in images),
        a=np.array([index[p.image_a] for p in pairs], dtype=np.int64),
        b=np.array([index[p.image_b] for p in pairs], dtype=np.int64),
        same=np.array([p.same for p in pairs], dtype=bool),
        folds=np.array([p.fold for p in pairs], dtype=np.int64),
        note=f"{len(pairs):,} pairs as listed in {pairs_file.name}",
        centred_fallback=True,
    )


def pairs_from_folder(
    root: str | Path, impostors: int = DEFAULT_IMPOSTOR_SAMPLE, seed: int = 0
) -> PairSet:
    """Every genuine pair of a ``<person>/<images>`` folder and ``impostors`` impostor pairs
    drawn uniformly (without repeats) with ``seed``: all of them when there are fewer."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"no folder at {root}")
    images = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix.lower() in IMAGE_SUFFIXES
        and len(path.relative_to(root).parts) >= 2
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not images:
        raise DatasetError(f"{root} has no images in <person>/<images> sub-folders")
    identities = [PurePosixPath(p).parts[0] for p in images]
    people, person_of = np.unique(identities, return_inverse=True)
    if len(people) < 2:
        raise DatasetError(f"{root} has one person only: impostor pairs need two or more")
    sample = sampled_pairs(person_of, impostors, seed)
    return PairSet(
        name=root.name or str(root),
        source="folder",
        root=root,
        images=tuple(images),
        identities=tuple(identities),
        a=sample.a,
        b=sample.b,
        same=sample.same,
        folds=np.zeros(len(sample.a), dtype=np.int64),
        note=f"{len(people):,} people, {len(images):,} images: {sample.note}",
    )


@dataclass(frozen=True)
class SampledPairs:
    """Every genuine pair of some images and a seeded sample of their impostor pairs."""

    a: np.ndarray
    """Index of each pair's first image (genuine pairs first, then impostor pairs)."""
    b: np.ndarray
    same: np.ndarray
    note: str
    """How many of each, e.g. "all 4 genuine pairs; 5 of 11 impostor pairs sampled with seed 7"."""


def sampled_pairs(person_of: np.ndarray, impostors: int, seed: int) -> SampledPairs:
    """Every genuine pair among images of the people ``person_of`` (an integer per image) and
    ``impostors`` impostor pairs drawn with ``seed`` (all of them when there are fewer)."""
    genuine_a, genuine_b = genuine_pairs(person_of)
    impostor_a, impostor_b, available = sample_impostor_pairs(person_of, impostors, seed)
    sampled = (
        f"all {_pairs(available, 'impostor')}"
        if len(impostor_a) == available
        else f"{len(impostor_a):,} of {available:,} impostor pairs sampled with seed {seed}"
    )
    return SampledPairs(
        a=np.concatenate([genuine_a, impostor_a]),
        b=np.concatenate([genuine_b, impostor_b]),
        same=np.concatenate([np.ones(len(genuine_a), bool), np.zeros(len(impostor_a), bool)]),
        note=f"all {_pairs(len(genuine_a), 'genuine')}; {sampled}",
    )


def _pairs(count: int, kind: str) -> str:
    return f"{count:,} {kind} pair" if count == 1 else f"{count:,} {kind} pairs"


def genuine_pairs(person_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of images of one person."""
    a_parts, b_parts = [], []
    for person in np.unique(person_of):
        members = np.flatnonzero(person_of == person)
        i, j = np.triu_indices(len(members), k=1)
        a_parts.append(members[i])
        b_parts.append(members[j])
    return np.concatenate(a_parts).astype(np.int64), np.concatenate(b_parts).astype(np.int64)


def sample_impostor_pairs(
    person_of: np.ndarray, wanted: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``wanted`` distinct pairs (i < j) of images of different people, and how many exist."""
    n = len(person_of)
    counts = np.bincount(person_of)
    available = int((n * n - (counts**2).sum()) // 2)
    wanted = max(0, min(int(wanted), available))
    rng = np.random.default_rng(seed)
    if wanted == available or available <= 200_000:
        i, j = np.triu_indices(n, k=1)
        keep = person_of[i] != person_of[j]
        i, j = i[keep], j[keep]
        chosen = np.sort(rng.choice(len(i), size=wanted, replace=False))
        return i[chosen].astype(np.int64), j[chosen].astype(np.int64), available
    # Too many to list: draw at random, reject same-person pairs and repeats. ``wanted`` is at
    # most 1 % of ``available`` here in practice, so few draws are wasted.
    found: dict[tuple[int, int], None] = {}
    while len(found) < wanted:
        i = rng.integers(0, n, size=2 * wanted)
        j = rng.integers(0, n, size=2 * wanted)
        for x, y in zip(np.minimum(i, j), np.maximum(i, j), strict=True):
            if person_of[x] != person_of[y]:
                found.setdefault((int(x), int(y)), None)
                if len(found) == wanted:
                    break
    pairs = np.array(sorted(found), dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1], available
