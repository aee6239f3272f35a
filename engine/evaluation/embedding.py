"""A pair set's images run through the face pipeline once: one embedding per image.

Each image's face is the one nearest the image centre, as LFW's protocol wants (with a centred
box standing in when a pairs file's image has none: ``face_picker``). Embeddings go through the
on-disk ``EmbeddingCache``, so a second evaluation of the same images costs nothing and a
cancelled run keeps what it had done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InvalidImage, VisionLabError
from engine.evaluation.embedding_cache import EmbeddingCache
from engine.evaluation.pair_sets import PairSet
from engine.faces.pipeline import Face, FacePipeline, face_nearest_center
from engine.faces.types import Box
from engine.images import load_image

EMBED_CHUNK = 32
"""Images embedded per batch; also how often a cancel request is noticed (about a second)."""

# Per-image outcome of embedding, stored in the cache.
FACE_FOUND, CENTRED_BOX, NO_FACE, UNREADABLE = 0, 1, 2, 3
STATUS_LABELS = {
    FACE_FOUND: "face found",
    CENTRED_BOX: "no face found: centred box used",
    NO_FACE: "no face found",
    UNREADABLE: "unreadable",
}


class EmbeddingCancelled(VisionLabError):
    """``should_stop`` asked to stop; the images embedded so far are in the cache."""


@dataclass(frozen=True)
class EmbeddedPairs:
    """A pair set with one embedding per image (NaN rows where there is none)."""

    pairs: PairSet
    embeddings: np.ndarray = field(repr=False)
    status: np.ndarray = field(repr=False)
    """Per image: ``FACE_FOUND``, ``CENTRED_BOX``, ``NO_FACE`` or ``UNREADABLE``."""
    model_id: str
    augment: str
    from_gallery: bool = False
    """The images are enrolled faces (``pairs.images`` their face ids), whose chips the gallery
    stores (``Gallery.chip_png``); file datasets cut chips on demand."""

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

    def image_name(self, image: int) -> str:
        """``Diane_Green_0001`` for a file; the person's name for a gallery face."""
        if self.from_gallery:
            return self.pairs.identities[image]
        return Path(self.pairs.images[image]).stem


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
