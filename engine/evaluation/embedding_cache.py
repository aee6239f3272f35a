"""The on-disk cache of image files' embeddings, shared by the evaluation and training.

One ``.npz`` per model and test-time augmentation; an entry per image, keyed by the SHA-256 of
the file's bytes, so a second evaluation of the same images costs nothing, an edited file is
embedded again, and a cancelled run keeps what it had done. Content, not path and modification
time: a dataset copied, moved or unpacked again (LFW is, every session here) keeps its cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_CACHE_LOCK = threading.Lock()  # one writer at a time per process; files are replaced atomically


class EmbeddingCache:
    """Embeddings of image files, one ``.npz`` per model and augmentation under ``cache_dir``.

    An image's key hashes its bytes and whether a centred box stood in for a missing face, so
    an edited or replaced file is embedded again and a copy is not. ``cache_dir`` None keeps
    nothing (tests, one-off runs).
    """

    def __init__(self, cache_dir: str | Path | None, model_id: str, augment: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model_id}-{augment}")
        self.path = Path(cache_dir) / f"faces-{safe}.npz" if cache_dir is not None else None

    @staticmethod
    def key(path: Path, centred_fallback: bool) -> str:
        try:
            with path.open("rb") as file:
                content = hashlib.file_digest(file, "sha256").hexdigest()
        except OSError:  # unreadable now; never cached under a key a readable file could get
            content = f"missing|{path.resolve()}"
        return hashlib.sha256(f"{content}|{centred_fallback}".encode()).hexdigest()[:32]

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
