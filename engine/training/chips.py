"""Aligned face chips of many image files, cached on disk, for fine-tuning the ResNet.

Fine-tuning needs the chips themselves, not just their descriptors. Finding them costs a
detector pass per image (the expensive part), so they are kept in ``<cache>/chips/``: one
``.npz`` per run of ``CHUNK`` images, named by a hash of those images' cache keys (their
content). A stopped run keeps its finished chunks, and a second run reads them.
Faces are picked as the evaluation picks them (``engine.evaluation.embedding.face_picker``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.errors import InvalidImage
from engine.evaluation.embedding import UNREADABLE, face_picker
from engine.evaluation.embedding_cache import EmbeddingCache
from engine.faces.pipeline import FacePipeline
from engine.images import load_image

CHUNK = 256
CHIP_SHAPE = (150, 150, 3)


def _chunk_file(cache_dir: Path, keys: Sequence[str]) -> Path:
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]
    return cache_dir / "chips" / f"chips-{digest}.npz"


def _chips_of(
    pipeline: FacePipeline, paths: Sequence[Path], centred_fallback: bool
) -> tuple[np.ndarray, np.ndarray]:
    chips = np.zeros((len(paths), *CHIP_SHAPE), np.uint8)
    status = np.full(len(paths), UNREADABLE, np.int8)
    for i, path in enumerate(paths):
        try:
            image = load_image(path, max_pixels=pipeline.options.max_pixels)
        except (InvalidImage, OSError):
            continue
        statuses: list[int] = []
        faces = face_picker(pipeline, centred_fallback, statuses)(
            image, pipeline.analyze(image, embed=False)
        )
        status[i] = statuses[0]
        if faces:
            chips[i] = faces[0].chip
    return chips, status


def image_chips(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    cache_dir: str | Path | None,
    *,
    centred_fallback: bool = False,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Chips (N, 150, 150, 3) uint8 and a status per image
    (``engine.evaluation.embedding.STATUS_LABELS``; images without a face have an all-zero
    chip). ``should_stop()`` between chunks raises
    ``InterruptedError``; finished chunks stay cached."""
    keys = [EmbeddingCache.key(Path(p), centred_fallback) for p in paths]
    chips = np.zeros((len(paths), *CHIP_SHAPE), np.uint8)
    status = np.full(len(paths), UNREADABLE, np.int8)
    for start in range(0, len(paths), CHUNK):
        if should_stop is not None and should_stop():
            raise InterruptedError(f"stopped after {start:,} of {len(paths):,} images")
        end = min(start + CHUNK, len(paths))
        file = _chunk_file(Path(cache_dir), keys[start:end]) if cache_dir is not None else None
        try:
            if file is None:
                raise FileNotFoundError
            with np.load(file) as stored:
                part, part_status = stored["chips"], stored["status"]
        except (OSError, ValueError, KeyError):
            part_paths = [Path(p) for p in paths[start:end]]
            part, part_status = _chips_of(pipeline, part_paths, centred_fallback)
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                partial = file.with_suffix(".tmp.npz")
                np.savez(partial, chips=part, status=part_status)
                partial.replace(file)
        chips[start:end], status[start:end] = part, part_status
        if progress is not None:
            progress(end, len(paths))
    return chips, status
