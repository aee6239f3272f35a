"""Training data for the projection head: a ``<person>/<images>`` folder → (embeddings, labels).

Each image goes through the face pipeline once (the face nearest the image centre, as LFW's
protocol wants) and its embedding is kept in the evaluation's on-disk ``EmbeddingCache``, so a
second run over the same images costs nothing and a cancelled run keeps what it had done.
Images where no face is found are skipped and counted, never replaced by a guess.

``--people FILE`` takes an LFW people file (``peopleDevTrain.txt``: first line N, then
``name count`` lines) and keeps only those people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from engine.evaluation.embedding import NO_FACE, STATUS_LABELS, EmbeddedPairs, embed_pair_set
from engine.evaluation.pair_sets import (
    DatasetError,
    PairSet,
    genuine_pairs,
    sample_impostor_pairs,
)
from engine.faces.pipeline import FacePipeline
from engine.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class TrainingSet:
    """Base embeddings of the images with a face, one integer label per person."""

    root: Path
    images: tuple[str, ...]
    """The kept images, POSIX paths under ``root``."""
    embeddings: np.ndarray = field(repr=False)
    """(N, D) float32 base embeddings of ``images``."""
    labels: np.ndarray = field(repr=False)
    """(N,) int64 index into ``people``."""
    people: tuple[str, ...]
    model_id: str
    listed_images: int
    """Images considered (after the people filter and the cap), before skipping."""
    skipped: dict[str, int]
    """Images dropped, by reason: "no face found", "unreadable", "person with one image"."""

    def __len__(self) -> int:
        return len(self.images)

    def pairs(
        self,
        impostors: int = 5000,
        seed: int = 0,
        among: np.ndarray | None = None,
        name: str = "the training people's pairs",
    ) -> EmbeddedPairs:
        """Balanced pairs of these images, embedded (for choosing a threshold on the training
        people's own pairs): ``impostors`` impostor pairs and as many genuine ones; only pairs
        of the images ``among`` (indices) when given, e.g. of the people held out.

        Balanced as LFW's pair files are: with every genuine pair, LFW's few very common people
        (530 photos of one man make 140,185 pairs) would drown the impostors, and the threshold
        with the best accuracy on them would sit far too high for a 50/50 test set.
        """
        among = np.arange(len(self.images)) if among is None else np.asarray(among)
        person_of = self.labels[among]
        genuine_a, genuine_b = genuine_pairs(person_of)
        if len(genuine_a) > impostors:
            keep = np.sort(np.random.default_rng(seed).choice(len(genuine_a), impostors, False))
            genuine_a, genuine_b = genuine_a[keep], genuine_b[keep]
        impostor_a, impostor_b, _ = sample_impostor_pairs(person_of, impostors, seed)
        a = among[np.concatenate([genuine_a, impostor_a])]
        b = among[np.concatenate([genuine_b, impostor_b])]
        same = np.concatenate([np.ones(len(genuine_a), bool), np.zeros(len(impostor_a), bool)])
        pair_set = PairSet(
            name=f"{name} ({self.root.name})",
            source="folder",
            root=self.root,
            images=self.images,
            identities=tuple(self.people[i] for i in self.labels),
            a=a,
            b=b,
            same=same,
            folds=np.zeros(len(a), dtype=np.int64),
        )
        status = np.zeros(len(self.images), dtype=np.int8)
        return EmbeddedPairs(pair_set, self.embeddings, status, self.model_id, "training")


def read_people_file(path: str | Path) -> list[str]:
    """The names of an LFW people file (``peopleDevTrain.txt``: N, then ``name count`` lines)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no people file at {path}")
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [parts for parts in lines if parts]
    if not lines or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise DatasetError(f"{path.name}: the first line should be the number of people")
    names = [parts[0] for parts in lines[1:]]
    if any(len(parts) != 2 for parts in lines[1:]):
        raise DatasetError(f"{path.name}: each line after the first should be `name count`")
    if len(names) != int(lines[0][0]):
        raise DatasetError(f"{path.name}: says {lines[0][0]} people, lists {len(names)}")
    return names


def list_images(
    root: str | Path,
    people: Sequence[str] | None = None,
    *,
    min_images: int = 1,
    max_images: int | None = None,
) -> list[str]:
    """``<person>/<image>`` paths under ``root`` (sorted), only of ``people`` when given, only of
    people with at least ``min_images`` images; with ``max_images``, whole people in order until
    the cap would be passed."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"no image folder at {root}")
    wanted = set(people) if people is not None else None
    by_person: dict[str, list[str]] = {}
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if wanted is not None and folder.name not in wanted:
            continue
        files = sorted(
            f"{folder.name}/{path.name}"
            for path in folder.iterdir()
            if path.is_file()
            and path.suffix.lower() in IMAGE_SUFFIXES
            and not path.name.startswith(".")
        )
        if len(files) >= max(min_images, 1):
            by_person[folder.name] = files
    if wanted is not None:
        missing = wanted - {f.name for f in root.iterdir() if f.is_dir()}
        if missing and len(missing) == len(wanted):
            raise DatasetError(f"none of the {len(wanted):,} listed people has a folder in {root}")
    images: list[str] = []
    for files in by_person.values():
        if max_images is not None and images and len(images) + len(files) > max_images:
            break
        images += files
    if not images:
        raise DatasetError(f"{root} has no images in <person>/<images> sub-folders")
    return images


def load_training_set(
    pipeline: FacePipeline,
    root: str | Path,
    cache_dir: str | Path | None,
    *,
    people_file: str | Path | None = None,
    min_images: int = 1,
    max_images: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingSet:
    """Embed a ``<person>/<images>`` folder (only ``people_file``'s people when given).

    ``min_images``: people with fewer images *with a face* are dropped too (2 for triplets).
    ``progress(done, total)`` / ``should_stop()`` as for ``embed_pair_set`` (a stop raises
    ``EmbeddingCancelled``; what was embedded stays in the cache).
    """
    root = Path(root)
    people = read_people_file(people_file) if people_file is not None else None
    images = list_images(root, people, min_images=min_images, max_images=max_images)
    empty = np.zeros(0, dtype=np.int64)
    pair_set = PairSet(
        name=root.name or str(root),
        source="folder",
        root=root,
        images=tuple(images),
        identities=tuple(PurePosixPath(p).parts[0] for p in images),
        a=empty,
        b=empty,
        same=np.zeros(0, dtype=bool),
        folds=empty,
        centred_fallback=False,
    )
    embedded = embed_pair_set(
        pipeline, pair_set, cache_dir, progress=progress, should_stop=should_stop
    )
    has_face = np.isfinite(embedded.embeddings).all(axis=1)
    skipped: dict[str, int] = {}
    for code, label in STATUS_LABELS.items():
        count = int(((embedded.status == code) & ~has_face).sum())
        if count:
            skipped[label] = count
    if not has_face.any() and (embedded.status == NO_FACE).any():
        raise DatasetError(f"no face found in any of the {len(images):,} images under {root}")
    identities = np.array(pair_set.identities)
    names, counts = np.unique(identities[has_face], return_counts=True)
    enough = set(names[counts >= min_images].tolist())
    keep = has_face & np.isin(identities, list(enough))
    dropped = int((has_face & ~keep).sum())
    if dropped:
        skipped[f"person with fewer than {min_images} images with a face"] = dropped
    kept_people = tuple(sorted(enough))
    if not kept_people:
        raise DatasetError(f"{root}: no person has {min_images} or more images with a face")
    label_of = {name: i for i, name in enumerate(kept_people)}
    return TrainingSet(
        root=root,
        images=tuple(p for p, k in zip(images, keep, strict=True) if k),
        embeddings=np.ascontiguousarray(embedded.embeddings[keep], dtype=np.float32),
        labels=np.array([label_of[n] for n in identities[keep]], dtype=np.int64),
        people=kept_people,
        model_id=embedded.model_id,
        listed_images=len(images),
        skipped=skipped,
    )
