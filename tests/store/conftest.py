"""Synthetic faces for the gallery tests: no face model needed, everything made in code.

Embeddings look like the face ResNet's (128-d, norm ≈ 1.4): each person has a centre and each
face is a small perturbation of it, so nearest-neighbour answers are known in advance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from store import Gallery, NewFace
from store.db import sync_index
from store.gallery import DEFAULT_EMBEDDING_DIM, DEFAULT_MODEL_ID

DIM = DEFAULT_EMBEDDING_DIM
MODEL = DEFAULT_MODEL_ID


@pytest.fixture(autouse=True)
def no_default_embedding_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chroma's default embedding function downloads a model: any use of it fails the test."""
    from chromadb.api.types import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Chroma's default embedding function was used")

    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", refuse)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", refuse)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)


class FaceMaker:
    """Random but reproducible faces: ``face(person)`` is a fresh photo of ``person``."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres: dict[str, np.ndarray] = {}
        self.photos = 0

    def centre(self, person: str) -> np.ndarray:
        if person not in self.centres:
            self.centres[person] = self.rng.normal(0, 0.125, DIM).astype(np.float32)
        return self.centres[person]

    def embedding(self, person: str, spread: float = 0.03) -> np.ndarray:
        noise = self.rng.normal(0, spread, DIM).astype(np.float32)
        return (self.centre(person) + noise).astype(np.float32)

    def face(
        self, person: str, *, model_id: str = MODEL, dim: int = DIM, image: bytes | None = None
    ) -> NewFace:
        self.photos += 1
        image = image if image is not None else f"photo {self.photos} {person}".encode()
        embedding = self.embedding(person) if dim == DIM else self.rng.normal(0, 0.1, dim)
        left, top = self.rng.uniform(0, 50, 2)
        return NewFace(
            embedding=np.asarray(embedding, np.float32),
            chip=self.rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
            image_sha256=hashlib.sha256(image).hexdigest(),
            box=(float(left), float(top), float(left + 99), float(top + 99)),
            landmarks=self.rng.uniform(0, 150, (5, 2)),
            score=float(self.rng.uniform(0.5, 1.5)),
            model_id=model_id,
        )


@pytest.fixture
def faces() -> FaceMaker:
    return FaceMaker()


@pytest.fixture
def open_gallery(tmp_path: Path) -> Iterator[Callable[..., Gallery]]:
    """Open galleries under tmp_path (default: tmp_path/"gallery"); all closed afterwards."""
    opened: list[Gallery] = []

    def make(folder: Path | None = None, **kwargs: object) -> Gallery:
        gallery = Gallery(folder or tmp_path / "gallery", **kwargs)  # type: ignore[arg-type]
        opened.append(gallery)
        return gallery

    yield make
    for gallery in opened:
        gallery.close()


@pytest.fixture
def gallery(open_gallery: Callable[..., Gallery]) -> Gallery:
    return open_gallery()


def chroma_ids(gallery: Gallery) -> set[str]:
    """Every record id in the gallery's Chroma collection, read straight from Chroma (after
    reloading it, as a search would, when another process rebuilt it: an erasure)."""
    with gallery._lock:
        sync_index(gallery)
        return set(gallery._index.collection.get(include=[])["ids"])


def db_face_ids(gallery: Gallery, table: str = "faces", column: str = "id") -> set[str]:
    """Every face id in the gallery's database (``table``), read over a separate connection."""
    from store.database import Database

    db = Database(gallery.database_url)
    try:
        return {r[0] for r in db.execute(f"SELECT {column} FROM {table}")}
    finally:
        db.close()


def chip_files(gallery: Gallery) -> set[Path]:
    """Every file under the chips folder (temporary ones included)."""
    if not gallery.chips_dir.exists():
        return set()
    return {p for p in gallery.chips_dir.rglob("*") if p.is_file()}


def assert_consistent(gallery: Gallery, expected_face_ids: set[str] | None = None) -> None:
    """Database, Chroma and disk hold exactly the same faces (and the expected ones); on a
    database server each face has its key and its chip row, and no chip is a file."""
    in_db = db_face_ids(gallery)
    assert chroma_ids(gallery) == in_db
    if gallery.chips_in_database:
        assert db_face_ids(gallery, "chips", "face_id") == in_db
        assert db_face_ids(gallery, "face_keys", "face_id") == in_db
        assert chip_files(gallery) == set()
        if expected_face_ids is not None:
            assert in_db == expected_face_ids
        return
    expected_files = set()
    for face_id in in_db:
        expected_files.add(gallery.get_face(face_id).chip_path)
    assert chip_files(gallery) == expected_files
    if expected_face_ids is not None:
        assert in_db == expected_face_ids
