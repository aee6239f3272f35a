"""Every face of an image, cached on disk by the image's content: a second run costs nothing.

The evaluation's ``EmbeddingCache`` keeps one vector per image file (the face nearest the
centre); a collection needs every face of every photo. So this cache, keyed by the SHA-256
of the image's bytes as that one is, holds per image each face's box, detector score,
landmarks and embedding (not the chip: 67 KB a face, and it is cut again from the landmarks in
a millisecond). One ``.npz`` per model,
test-time augmentation and detector setting, since each changes what is found or its vector;
entries are merged on write, as ``EmbeddingCache`` does, so a cancelled run keeps its work.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.faces.types import Box

_LOCK = threading.Lock()


@dataclass(frozen=True)
class CachedFace:
    """What the pipeline found for one face, without its chip."""

    box: Box
    score: float
    landmarks: np.ndarray = field(repr=False)
    embedding: np.ndarray = field(repr=False)


class FaceCache:
    """Faces per image content, one ``.npz`` per pipeline setting under ``cache_dir``
    (None: keep nothing)."""

    def __init__(self, cache_dir: str | Path | None, setting: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", setting)
        self.path = Path(cache_dir) / f"collection-faces-{safe}.npz" if cache_dir else None

    def _read(self) -> dict[str, list[CachedFace]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys, counts = z["keys"], z["counts"]
                boxes, scores = z["boxes"], z["scores"]
                landmarks, embeddings = z["landmarks"], z["embeddings"]
        except (OSError, ValueError, KeyError):
            return {}  # a damaged cache is only lost time
        stored: dict[str, list[CachedFace]] = {}
        start = 0
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
            stored[key] = [
                CachedFace(
                    Box(*map(float, boxes[i])), float(scores[i]), landmarks[i], embeddings[i]
                )
                for i in range(start, start + count)
            ]
            start += count
        return stored

    def lookup(self, keys: list[str]) -> dict[str, list[CachedFace]]:
        """The cached images among ``keys`` (an image with no face maps to an empty list)."""
        stored = self._read()
        return {k: stored[k] for k in keys if k in stored}

    def store(self, entries: dict[str, list[CachedFace]]) -> None:
        """Merge ``entries`` into the file (re-read first, so other writers' entries survive)."""
        if self.path is None or not entries:
            return
        with _LOCK:
            merged = self._read()
            merged.update(entries)
            faces = [f for found in merged.values() for f in found]
            dim = len(faces[0].embedding) if faces else 128
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.stem}-{os.getpid()}.tmp.npz")
            np.savez(
                temporary,
                keys=np.array(list(merged), dtype="U64"),
                counts=np.array([len(v) for v in merged.values()], dtype=np.int32),
                boxes=np.array(
                    [(f.box.left, f.box.top, f.box.right, f.box.bottom) for f in faces],
                    dtype=np.float64,
                ).reshape(-1, 4),
                scores=np.array([f.score for f in faces], dtype=np.float64),
                landmarks=np.array([f.landmarks for f in faces], dtype=np.float64).reshape(
                    -1, 5, 2
                ),
                embeddings=np.array([f.embedding for f in faces], dtype=np.float32).reshape(
                    -1, dim
                ),
            )
            os.replace(temporary, self.path)
