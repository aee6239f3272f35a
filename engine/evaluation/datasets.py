"""Labelled pairs to evaluate on, and their embeddings.

Three sources, as an analyst has them:

- an LFW-format pairs file and its image root (``pairs_from_file``);
- a folder laid out ``<person>/<images>``: every genuine pair and a seeded sample of impostor
  pairs (``pairs_from_folder``);
- the enrolled gallery, leave-one-out (``pairs_from_gallery``, ``gallery_searches``).

A ``PairSet`` says which images to compare and the truth about each pair; ``embed_pair_set``
runs the face pipeline over its images once (the face nearest the image centre, as LFW's
protocol wants) and caches each image's embedding on disk, keyed by the file's path, size and
modification time, the model and the test-time augmentation, so a second evaluation of the same
images costs nothing and a cancelled run keeps what it had done.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

import numpy as np

from engine.errors import InvalidImage, VisionLabError
from engine.evaluation.pairs import read_pairs
from engine.faces.pipeline import Face, FacePipeline, face_nearest_center
from engine.faces.types import Box
from engine.images import load_image

if TYPE_CHECKING:
    from store import Gallery

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
DEFAULT_IMPOSTOR_SAMPLE = 5000
"""Impostor pairs drawn when the caller does not say: enough to measure a FAR of 1e-3."""
EMBED_CHUNK = 32
"""Images embedded per batch; also how often a cancel request is noticed (about a second)."""

PairSource = Literal["pairs file", "folder", "gallery"]

# Per-image outcome of embedding, stored in the cache.
FACE_FOUND, CENTRED_BOX, NO_FACE, UNREADABLE = 0, 1, 2, 3
STATUS_LABELS = {
    FACE_FOUND: "face found",
    CENTRED_BOX: "no face found: centred box used",
    NO_FACE: "no face found",
    UNREADABLE: "unreadable",
}


class DatasetError(VisionLabError):
    """The pairs cannot be built: missing images, an empty folder, a single person…"""


class EmbeddingCancelled(VisionLabError):
    """``should_stop`` asked to stop; the images embedded so far are in the cache."""


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
    genuine_a, genuine_b = genuine_pairs(person_of)
    impostor_a, impostor_b, available = sample_impostor_pairs(person_of, impostors, seed)
    a = np.concatenate([genuine_a, impostor_a])
    b = np.concatenate([genuine_b, impostor_b])
    same = np.concatenate([np.ones(len(genuine_a), bool), np.zeros(len(impostor_a), bool)])
    sampled = (
        f"all {available:,} impostor pairs"
        if len(impostor_a) == available
        else f"{len(impostor_a):,} of {available:,} impostor pairs sampled with seed {seed}"
    )
    return PairSet(
        name=root.name or str(root),
        source="folder",
        root=root,
        images=tuple(images),
        identities=tuple(identities),
        a=a,
        b=b,
        same=same,
        folds=np.zeros(len(a), dtype=np.int64),
        note=f"{len(people):,} people, {len(images):,} images: all {len(genuine_a):,} genuine "
        f"pairs; {sampled}",
    )


def genuine_pairs(person_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


@dataclass(frozen=True)
class EmbeddedPairs:
    """A pair set with one embedding per image (NaN rows where there is none)."""

    pairs: PairSet
    embeddings: np.ndarray = field(repr=False)
    status: np.ndarray = field(repr=False)
    """Per image: ``FACE_FOUND``, ``CENTRED_BOX``, ``NO_FACE`` or ``UNREADABLE``."""
    model_id: str
    augment: str
    chip_paths: tuple[Path, ...] | None = None
    """Stored face chips (the gallery has them); file datasets cut chips on demand."""

    @property
    def usable(self) -> np.ndarray:
        """Pairs whose two images both have an embedding."""
        has = np.isfinite(self.embeddings).all(axis=1)
        return has[self.pairs.a] & has[self.pairs.b]

    @property
    def dropped_pairs(self) -> int:
        return int((~self.usable).sum())

    def status_counts(self) -> dict[str, int]:
        return {
            label: int((self.status == code).sum())
            for code, label in STATUS_LABELS.items()
            if (self.status == code).any()
        }

    def pair_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(pairs, dim) embeddings of each usable pair's two images."""
        keep = self.usable
        return self.embeddings[self.pairs.a[keep]], self.embeddings[self.pairs.b[keep]]


def embed_pair_set(
    pipeline: FacePipeline,
    pairs: PairSet,
    cache_dir: str | Path | None,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EmbeddedPairs:
    """Embed each image of ``pairs`` once (cached images cost nothing).

    ``progress(done, total)`` is called as images are done; ``should_stop()`` is asked between
    batches and, when it returns True, ``EmbeddingCancelled`` is raised: what was embedded so
    far stays in the cache, so starting again resumes where it stopped.
    """
    if pairs.source == "gallery":
        raise ValueError("gallery pairs come embedded: use pairs_from_gallery")
    cache = EmbeddingCache(cache_dir, pipeline.model_id, pipeline.options.augment)
    paths = [pairs.image_path(i) for i in range(len(pairs.images))]
    keys = [cache.key(path, pairs.centred_fallback) for path in paths]
    known = cache.lookup(keys)
    todo = [i for i, key in enumerate(keys) if key not in known]
    done = len(paths) - len(todo)
    if progress:
        progress(done, len(paths))
    for start in range(0, len(todo), EMBED_CHUNK):
        if should_stop is not None and should_stop():
            raise EmbeddingCancelled(
                f"stopped after {done:,} of {len(paths):,} images; those are kept in the cache"
            )
        chunk = todo[start : start + EMBED_CHUNK]
        results = _embed_images(
            pipeline,
            [paths[i] for i in chunk],
            pairs.centred_fallback,
            progress=_offset_progress(progress, done, len(paths)),
        )
        fresh = {keys[i]: result for i, result in zip(chunk, results, strict=True)}
        cache.store(fresh)
        known.update(fresh)
        done += len(chunk)
    dim = pipeline.embedder.embedding_dim
    embeddings = np.full((len(paths), dim), np.nan, dtype=np.float32)
    status = np.empty(len(paths), dtype=np.int8)
    for i, key in enumerate(keys):
        vector, status[i] = known[key]
        if vector is not None:
            embeddings[i] = vector
    return EmbeddedPairs(pairs, embeddings, status, pipeline.model_id, pipeline.options.augment)


def _offset_progress(
    progress: Callable[[int, int], None] | None, offset: int, total: int
) -> Callable[[int], None] | None:
    """A batch's ``done`` count reported as the whole run's."""
    if progress is None:
        return None
    return lambda done: progress(offset + done, total)


def _embed_images(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    centred_fallback: bool,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[np.ndarray | None, int]]:
    """(embedding or None, status) per image, the images' chips embedded as one batch."""
    images: list[np.ndarray] = []
    readable: list[int] = []
    results: list[tuple[np.ndarray | None, int]] = [(None, UNREADABLE)] * len(paths)
    for i, path in enumerate(paths):
        try:
            images.append(load_image(path, max_pixels=pipeline.options.max_pixels))
            readable.append(i)
        except (InvalidImage, OSError):
            pass
    statuses: list[int] = []
    pick = face_picker(pipeline, centred_fallback, statuses)
    per_image = pipeline.analyze_many(
        images, pick=pick, progress=(lambda n, _total: progress(n)) if progress else None
    )
    for i, faces, status in zip(readable, per_image, statuses, strict=True):
        results[i] = (faces[0].embedding if faces else None, status)
    if progress and len(readable) < len(paths):
        progress(len(paths))
    return results


def face_picker(
    pipeline: FacePipeline, centred_fallback: bool, statuses: list[int]
) -> Callable[[np.ndarray, list[Face]], list[Face]]:
    """LFW's convention: the face nearest the image centre; with ``centred_fallback``, a centred
    box when the detector finds none (as ``bench.lfw`` does). Records each image's status."""

    def pick(image: np.ndarray, faces: list[Face]) -> list[Face]:
        chosen = face_nearest_center(image, faces)
        if chosen:
            statuses.append(FACE_FOUND)
            return chosen
        if not centred_fallback:
            statuses.append(NO_FACE)
            return []
        box = centred_box(image)
        points, chip = pipeline.align(image, box)
        statuses.append(CENTRED_BOX)
        return [Face(box, 0.0, points, chip)]

    return pick


def centred_box(image: np.ndarray) -> Box:
    """LFW's deep-funneled images centre the subject's face; about 100 px of 250 is the face."""
    h, w = image.shape[:2]
    side = 0.4 * min(h, w)
    return Box((w - side) / 2, (h - side) / 2, (w + side) / 2 - 1, (h + side) / 2 - 1)


def face_chip(
    pipeline: FacePipeline, path: str | Path, centred_fallback: bool
) -> np.ndarray | None:
    """The aligned chip the evaluation embedded for one image (for showing errors), or None."""
    try:
        image = load_image(path, max_pixels=pipeline.options.max_pixels)
    except (InvalidImage, OSError):
        return None
    pick = face_picker(pipeline, centred_fallback, [])
    faces = pick(image, pipeline.analyze(image, embed=False))
    return faces[0].chip if faces else None


# --- the embedding cache ------------------------------------------------------------------------
_CACHE_LOCK = threading.Lock()  # one writer at a time per process; files are replaced atomically


class EmbeddingCache:
    """Embeddings of image files, one ``.npz`` per model and augmentation under ``cache_dir``.

    An image's key hashes its absolute path, size, modification time and whether a centred box
    stood in for a missing face, so an edited or replaced file is embedded again. ``cache_dir``
    None keeps nothing (tests, one-off runs).
    """

    def __init__(self, cache_dir: str | Path | None, model_id: str, augment: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model_id}-{augment}")
        self.path = Path(cache_dir) / f"faces-{safe}.npz" if cache_dir is not None else None

    @staticmethod
    def key(path: Path, centred_fallback: bool) -> str:
        try:
            stat = path.stat()
            identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{centred_fallback}"
        except OSError:  # unreadable now; never cached under a key a readable file could get
            identity = f"{path.resolve()}|missing|{centred_fallback}"
        return hashlib.sha256(identity.encode()).hexdigest()[:32]

    def _read(self) -> dict[str, tuple[np.ndarray | None, int]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys, vectors, status = z["keys"], z["embeddings"], z["status"]
        except (OSError, ValueError, KeyError):
            return {}  # a damaged cache is only lost time: embed again
        return {
            str(k): (v if np.isfinite(v).all() else None, int(s))
            for k, v, s in zip(keys, vectors, status, strict=True)
        }

    def lookup(self, keys: Sequence[str]) -> dict[str, tuple[np.ndarray | None, int]]:
        """The cached entries among ``keys``."""
        stored = self._read()
        return {k: stored[k] for k in keys if k in stored}

    def store(self, entries: dict[str, tuple[np.ndarray | None, int]]) -> None:
        """Merge ``entries`` into the file (re-read first, so other writers' entries survive)."""
        if self.path is None or not entries:
            return
        with _CACHE_LOCK:
            merged = self._read()
            merged.update(entries)
            dim = next((len(v) for v, _ in merged.values() if v is not None), 128)
            vectors = np.full((len(merged), dim), np.nan, dtype=np.float32)
            for row, (vector, _) in enumerate(merged.values()):
                if vector is not None:
                    vectors[row] = vector
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.stem}-{os.getpid()}.tmp.npz")
            np.savez(
                temporary,
                keys=np.array(list(merged), dtype="U32"),
                embeddings=vectors,
                status=np.array([s for _, s in merged.values()], dtype=np.int8),
            )
            os.replace(temporary, self.path)


# --- the gallery, leave-one-out -----------------------------------------------------------------
@dataclass(frozen=True)
class GalleryFaces:
    """Every enrolled face of the gallery's model with its person, read once."""

    face_ids: tuple[str, ...]
    people: tuple[str, ...]
    """The person's name per face."""
    embeddings: np.ndarray = field(repr=False)
    chip_paths: tuple[Path, ...]
    model_id: str


def gallery_faces(gallery: Gallery) -> GalleryFaces:
    face_ids: list[str] = []
    people: list[str] = []
    chips: list[Path] = []
    vectors: list[np.ndarray] = []
    for person in gallery.people():
        faces = gallery.faces_of(person.id)
        embeddings = gallery.person_embeddings(person.id)
        for face, embedding in zip(faces, embeddings, strict=True):
            face_ids.append(face.id)
            people.append(person.name)
            chips.append(face.chip_path)
            vectors.append(embedding)
    dim = gallery.embedding_dim
    return GalleryFaces(
        face_ids=tuple(face_ids),
        people=tuple(people),
        embeddings=np.stack(vectors) if vectors else np.zeros((0, dim), np.float32),
        chip_paths=tuple(chips),
        model_id=gallery.model_id,
    )


def pairs_from_gallery(
    faces: GalleryFaces, impostors: int = DEFAULT_IMPOSTOR_SAMPLE, seed: int = 0
) -> EmbeddedPairs:
    """Verification pairs among enrolled faces: every genuine pair (each face against the
    person's other faces) and a seeded sample of impostor pairs."""
    if len(set(faces.people)) < 2:
        raise DatasetError("the gallery needs two or more people to make impostor pairs")
    people, person_of = np.unique(faces.people, return_inverse=True)
    if np.bincount(person_of).max() < 2:
        raise DatasetError("no person has two or more faces: there are no genuine pairs")
    genuine_a, genuine_b = genuine_pairs(person_of)
    impostor_a, impostor_b, available = sample_impostor_pairs(person_of, impostors, seed)
    a = np.concatenate([genuine_a, impostor_a])
    sampled = (
        f"all {available:,} impostor pairs"
        if len(impostor_a) == available
        else f"{len(impostor_a):,} of {available:,} impostor pairs sampled with seed {seed}"
    )
    pairs = PairSet(
        name="enrolled gallery",
        source="gallery",
        root=Path("."),
        images=faces.face_ids,
        identities=faces.people,
        a=a,
        b=np.concatenate([genuine_b, impostor_b]),
        same=np.concatenate([np.ones(len(genuine_a), bool), np.zeros(len(impostor_a), bool)]),
        folds=np.zeros(len(a), dtype=np.int64),
        note=f"{len(people):,} people, {len(faces.face_ids):,} faces: all {len(genuine_a):,} "
        f"genuine pairs; {sampled}",
    )
    return EmbeddedPairs(
        pairs=pairs,
        embeddings=np.asarray(faces.embeddings, dtype=np.float32),
        status=np.full(len(faces.face_ids), FACE_FOUND, dtype=np.int8),
        model_id=faces.model_id,
        augment="as enrolled",
        chip_paths=faces.chip_paths,
    )


@dataclass(frozen=True)
class GallerySearches:
    """Each enrolled face searched against the rest of the gallery.

    Mated: the face left out, the rest of its person still enrolled (people with two or more
    faces). Non-mated: the face's whole person left out, so nobody right is there to find.
    """

    people: tuple[str, ...]
    mated_distances: np.ndarray = field(repr=False)
    """(mated searches, people): distance to each person's nearest remaining face."""
    mated_truth: np.ndarray = field(repr=False)
    non_mated_nearest: np.ndarray = field(repr=False)
    """Per non-mated search: distance to the nearest other person."""


def gallery_searches(faces: GalleryFaces, block: int = 512) -> GallerySearches:
    """Leave-one-out searches of the gallery by exact distance (blocks bound the memory)."""
    people, person_of = np.unique(faces.people, return_inverse=True)
    if len(people) < 2:
        raise DatasetError("open-set identification needs two or more enrolled people")
    e = np.asarray(faces.embeddings, dtype=np.float64)
    order = np.argsort(person_of, kind="stable")
    starts = np.searchsorted(person_of[order], np.arange(len(people)))
    squared = (e**2).sum(axis=1)
    per_person = np.empty((len(e), len(people)))
    for first in range(0, len(e), block):
        rows = np.arange(first, min(first + block, len(e)))
        d2 = squared[rows, None] + squared[None, order] - 2 * e[rows] @ e[order].T
        d = np.sqrt(np.maximum(d2, 0))
        d[rows[:, None] == order[None, :]] = np.inf  # leave the probe itself out
        per_person[rows] = np.minimum.reduceat(d, starts, axis=1)
    counts = np.bincount(person_of)
    mated = counts[person_of] >= 2
    non_mated = per_person.copy()
    non_mated[np.arange(len(e)), person_of] = np.inf  # leave the probe's whole person out
    return GallerySearches(
        people=tuple(str(p) for p in people),
        mated_distances=per_person[mated],
        mated_truth=person_of[mated].astype(np.int64),
        non_mated_nearest=non_mated.min(axis=1),
    )
