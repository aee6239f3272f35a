"""Collection → faces: every face of every photo, with its photo, box, chip and embedding.

    faces = collect_faces(pipeline, "holiday.zip", cache_dir=settings.data_dir / "cache")
    clustering = cluster_embeddings(faces.embeddings, faces.face_ids)

Photos come from ``engine.clustering.sources`` (folder, zip or uploads, bounded), are decoded
with ``engine.images.load_image`` (``max_pixels`` checked on the header) and go through the
face pipeline (``FacePipeline.analyze_many``: detector, landmarks, chip, embedding, chips
embedded in batches). Each photo's faces are cached by the photo's content
(``engine.clustering.face_cache``), so a second run, or one resumed after a cancel, only
decodes photos to cut their chips again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.clustering.face_cache import CachedFace, FaceCache
from engine.clustering.sources import CollectionSource, Photo, open_photos
from engine.errors import InvalidImage, VisionLabError
from engine.evaluation.embedding import EmbeddingCancelled
from engine.faces.chips import extract_chips, face_chip_transform
from engine.faces.pipeline import Face, FacePipeline
from engine.faces.types import Box
from engine.images import load_image
from engine.safe_zip import ArchiveLimits

CHUNK = 32
"""Photos decoded and embedded together; also how often a cancel request is noticed."""
MAX_FACES = 50_000
"""Faces one collection may hold (a k-NN graph of 50,000 faces is 12 MB; chips, when kept,
67.5 KB each)."""


class TooManyFaces(VisionLabError):
    """The collection holds more faces than one clustering job takes."""


@dataclass(frozen=True)
class CollectedFace:
    """One face of the collection: where it is, and what clustering and enrolment need."""

    face_id: str
    """``<photo name>#<n>``: the photo's n-th face, best detector score first."""
    photo: str
    image_sha256: str
    box: Box
    score: float
    landmarks: np.ndarray = field(repr=False)
    embedding: np.ndarray = field(repr=False)
    chip: np.ndarray | None = field(default=None, repr=False)
    """(150, 150, 3) uint8 aligned chip, when the collection was read with ``keep_chips``."""

    def as_face(self) -> Face:
        """The pipeline's ``Face`` (for ``store.NewFace.from_face`` when a cluster is
        enrolled); needs the chip."""
        if self.chip is None:
            raise ValueError("this face was collected without its chip (keep_chips=False)")
        return Face(self.box, self.score, self.landmarks, self.chip, self.embedding)


@dataclass(frozen=True)
class FaceCollection:
    """The faces of a collection, and what happened to the photos without any."""

    faces: tuple[CollectedFace, ...]
    photos: int
    """Image files read (or tried)."""
    no_face: tuple[str, ...]
    """Photos in which no face was found."""
    unreadable: tuple[tuple[str, str], ...]
    """(photo, reason) of files that are not readable images."""
    ignored: tuple[str, ...]
    """Files not considered (hidden, or not images by their extension), with the reason."""
    model_id: str

    @property
    def embeddings(self) -> np.ndarray:
        """(faces, d) float32, in ``faces`` order."""
        if not self.faces:
            return np.zeros((0, 128), np.float32)
        return np.stack([f.embedding for f in self.faces]).astype(np.float32)

    @property
    def face_ids(self) -> tuple[str, ...]:
        return tuple(f.face_id for f in self.faces)


def pipeline_setting(pipeline: FacePipeline) -> str:
    """What decides the faces found and their vectors: the face cache's file name."""
    o = pipeline.options
    return f"{pipeline.model_id}-{o.augment}-side{o.max_side}-up{o.upsample}-t{o.threshold:g}"


def collect_faces(
    pipeline: FacePipeline,
    source: CollectionSource,
    *,
    cache_dir: str | Path | None = None,
    keep_chips: bool = True,
    limits: ArchiveLimits | None = None,
    max_faces: int = MAX_FACES,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FaceCollection:
    """Every face of every photo of ``source`` (see the module docstring).

    ``progress(done, total)`` counts photos; ``should_stop()`` is asked between chunks of
    ``CHUNK`` photos and raises ``EmbeddingCancelled`` (the faces found so far stay in the
    cache). ``InvalidArchive`` for an unsafe or missing source, ``TooManyFaces`` past
    ``max_faces``. An unreadable photo is listed, never fatal.
    """
    cache = FaceCache(cache_dir, pipeline_setting(pipeline))
    faces: list[CollectedFace] = []
    no_face: list[str] = []
    unreadable: list[tuple[str, str]] = []
    with open_photos(source, limits) as (photos, ignored):
        total = len(photos)
        if progress is not None:
            progress(0, total)
        for start in range(0, total, CHUNK):
            if should_stop is not None and should_stop():
                raise EmbeddingCancelled(
                    f"stopped after {start:,} of {total:,} photos; their faces are kept in "
                    "the cache"
                )
            for photo, found in _chunk_faces(
                pipeline, cache, photos[start : start + CHUNK], keep_chips
            ):
                if isinstance(found, str):
                    unreadable.append((photo.name, found))
                elif not found:
                    no_face.append(photo.name)
                faces.extend(found if isinstance(found, list) else [])
                if len(faces) > max_faces:
                    raise TooManyFaces(
                        "the collection holds more faces than one clustering here takes "
                        f"({max_faces:,}): cluster it in parts"
                    )
            if progress is not None:
                progress(min(start + CHUNK, total), total)
    return FaceCollection(
        tuple(faces), total, tuple(no_face), tuple(unreadable), tuple(ignored), pipeline.model_id
    )


def _chunk_faces(
    pipeline: FacePipeline, cache: FaceCache, photos: list[Photo], keep_chips: bool
) -> list[tuple[Photo, list[CollectedFace] | str]]:
    """Per photo: its faces, or the sentence saying why it is unreadable."""
    data: list[bytes | str] = []
    for photo in photos:
        try:
            data.append(photo.read())
        except InvalidImage as exc:
            data.append(str(exc))
    digests = [hashlib.sha256(d).hexdigest() if isinstance(d, bytes) else "" for d in data]
    known = cache.lookup([d for d in digests if d])
    images: dict[int, np.ndarray] = {}
    failed: dict[int, str] = {i: d for i, d in enumerate(data) if isinstance(d, str)}
    for i, raw in enumerate(data):
        if i in failed or (digests[i] in known and not keep_chips):
            continue  # cached and no chip wanted: nothing to decode
        try:
            images[i] = load_image(raw, max_pixels=pipeline.options.max_pixels)
        except InvalidImage as exc:
            failed[i] = str(exc)
    todo = [i for i in images if digests[i] not in known]
    if todo:
        analysed = pipeline.analyze_many([images[i] for i in todo])
        fresh = {
            digests[i]: [CachedFace(f.box, f.score, f.landmarks, f.embedding) for f in found]
            for i, found in zip(todo, analysed, strict=True)
        }
        cache.store(fresh)
        known.update(fresh)
    out: list[tuple[Photo, list[CollectedFace] | str]] = []
    for i, photo in enumerate(photos):
        if i in failed:
            out.append((photo, failed[i]))
            continue
        cached = known[digests[i]]
        chips = _chips(images[i], cached) if keep_chips else [None] * len(cached)
        out.append(
            (
                photo,
                [
                    _collected(photo, digests[i], n, f, c)
                    for n, (f, c) in enumerate(zip(cached, chips, strict=True))
                ],
            )
        )
    return out


def _collected(
    photo: Photo, digest: str, n: int, face: CachedFace, chip: np.ndarray | None
) -> CollectedFace:
    return CollectedFace(
        face_id=f"{photo.name}#{n}",
        photo=photo.name,
        image_sha256=digest,
        box=face.box,
        score=face.score,
        landmarks=np.asarray(face.landmarks),
        embedding=np.asarray(face.embedding, np.float32),
        chip=chip,
    )


def _chips(image: np.ndarray, faces: list[CachedFace]) -> list[np.ndarray]:
    """Each face's aligned chip, cut again from its landmarks (as the pipeline cut it)."""
    if not faces:
        return []
    return list(extract_chips(image, [face_chip_transform(f.landmarks) for f in faces]))
