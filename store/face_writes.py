"""How a face enters the gallery, all or nothing.

A face is checked (``validate_new_face``), looked for among the faces already stored
(``find_duplicate``), and written by ``write_faces``: temporary chip files → rows → Chroma →
chips moved into place → COMMIT. Any failure undoes all of it. ``Gallery.enroll`` writes one
face this way and ``Gallery.import_zip`` a batch, so the commit lives here, apart from both.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from store.archive import ID_PATTERN, MAX_CHIP_PIXELS
from store.database import Database, IntegrityError
from store.db import FACE_COLUMNS, insert_person, transaction
from store.errors import ModelMismatch, NameTaken, PersonNotFound
from store.names import clean_name
from store.records import NewFace, Person, check_embedding, new_id
from store.sealing import new_key, seal

if TYPE_CHECKING:
    from store.gallery import Gallery

log = logging.getLogger(__name__)

DUPLICATE_IOU = 0.5
"""A new face whose image (SHA-256) is already stored with a box overlapping this much is the
same face again. Comparing boxes, not just the image hash, lets two people of one group photo be
enrolled from it."""

TMP_PREFIX = ".tmp-"
"""A chip file being written; ``reconcile`` removes any a crash left behind."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FaceWrite:
    """One face on its way into the gallery, everything computed before the lock is taken."""

    chips_dir: Path
    face_id: str
    person_id: str
    new_person: tuple[str, str, str] | None
    """(name, notes, created) when the person is created in the same transaction."""
    created: str
    face: NewFace
    embedding: np.ndarray
    png: bytes
    landmarks: np.ndarray

    @property
    def folder(self) -> Path:
        return self.chips_dir / self.person_id

    @property
    def final(self) -> Path:
        return self.folder / f"{self.face_id}.png"

    @property
    def temp(self) -> Path:
        return self.folder / f"{TMP_PREFIX}{self.face_id}.png"

    def row(self, model_id: str, key: bytes | None = None) -> tuple[Any, ...]:
        """Values for ``INSERT INTO faces(embedding, <FACE_COLUMNS>)``; with ``key`` the
        embedding is sealed (a database server, ``store.sealing``)."""
        embedding = self.embedding.astype("<f4").tobytes()
        return (
            embedding if key is None else seal(key, embedding, self.face_id),
            self.face_id,
            self.person_id,
            model_id,
            self.face.image_sha256,
            *(float(v) for v in self.face.box),
            json.dumps(self.landmarks.tolist()),
            float(self.face.score),
            self.created,
        )


def validate_new_face(gallery: Gallery, face: NewFace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embedding (float32), chip (uint8 RGB) and landmarks, or a clear error."""
    if face.model_id != gallery.model_id:
        raise ModelMismatch(
            f"cannot store a {face.model_id!r} embedding in the {gallery.model_id!r} gallery: "
            "embeddings of different models are never mixed"
        )
    embedding = check_embedding(
        face.embedding, face.model_id, gallery.model_id, gallery.embedding_dim
    )
    chip = np.asarray(face.chip)
    if chip.dtype != np.uint8 or chip.ndim != 3 or chip.shape[2] != 3:
        raise ValueError(f"a face chip must be (H, W, 3) uint8 RGB, got {chip.shape}")
    if chip.shape[0] * chip.shape[1] > MAX_CHIP_PIXELS:
        raise ValueError(f"a face chip must be at most {MAX_CHIP_PIXELS} pixels")
    if not _SHA256.match(face.image_sha256 or ""):
        raise ValueError("image_sha256 must be 64 lowercase hex digits")
    if len(face.box) != 4 or not np.all(np.isfinite(face.box)):
        raise ValueError("box must be four finite numbers (left, top, right, bottom)")
    landmarks = np.asarray(face.landmarks, dtype=np.float64)
    if landmarks.ndim != 2 or landmarks.shape[1] != 2:
        raise ValueError(f"landmarks must be (n, 2) points, got {landmarks.shape}")
    return embedding, np.ascontiguousarray(chip), landmarks


def png_bytes(chip: np.ndarray) -> bytes:
    """The chip as lossless PNG, as it is stored (a later model can re-embed from it)."""
    buffer = io.BytesIO()
    Image.fromarray(chip, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def find_duplicate(
    gallery: Gallery, face: NewFace, pending: Sequence[FaceWrite] = ()
) -> tuple[str, str] | None:
    """(face id, person id) of the same face already stored, or among ``pending``."""
    rows = gallery._db.execute(
        "SELECT id, person_id, box_left, box_top, box_right, box_bottom FROM faces "
        "WHERE model_id=? AND image_sha256=?",
        (gallery.model_id, face.image_sha256),
    ).fetchall()
    rows += [
        (w.face_id, w.person_id, *w.face.box)
        for w in pending
        if w.face.image_sha256 == face.image_sha256
    ]
    for r in rows:
        if _iou(r[2:6], face.box) >= DUPLICATE_IOU:
            return r[0], r[1]
    return None


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes, inclusive corners."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return float(inter / (area_a + area_b - inter))


def resolve_person(gallery: Gallery, person: str | Person, create: bool) -> tuple[str, str | None]:
    """(person id, name to create or None). 32 hex digits are an id; anything else a name."""
    if isinstance(person, Person):
        gallery.get_person(person.id)
        return person.id, None
    if ID_PATTERN.match(person):  # names never look like ids (store.names), so this is an id
        gallery.get_person(person)
        return person, None
    found = gallery.find_person(person)
    if found is not None:
        return found.id, None
    if not create:
        raise PersonNotFound(f"no person {person!r} in the gallery")
    return new_id(), clean_name(person)


def write_faces(gallery: Gallery, writes: Sequence[FaceWrite]) -> None:
    """The atomic enrol, for one face or a batch: temp chips → rows → Chroma → chips in
    place → COMMIT. Any failure undoes all of it (rows rolled back, embeddings deleted,
    chip files and new folders removed) and re-raises. Caller holds ``writing``.

    On a database server the chip is a row: rows (face, key, sealed chip) → Chroma → COMMIT."""
    if gallery.chips_in_database:
        _write_sealed_faces(gallery, writes)
        return
    new_folders = {w.folder for w in writes if not w.folder.is_dir()}  # removed again on failure
    added = False
    try:
        for w in writes:
            w.folder.mkdir(parents=True, exist_ok=True)
            _write_durably(w.temp, w.png)
        with transaction(gallery) as db:
            for w in writes:
                _insert_person_of(db, w)
                db.execute(
                    f"INSERT INTO faces(embedding, {FACE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    w.row(gallery.model_id),
                )
            _add_embeddings(gallery, writes)
            added = True
            for w in writes:
                os.replace(w.temp, w.final)
    except BaseException:
        if added:
            _forget_embeddings(gallery, writes)
        for w in writes:
            w.temp.unlink(missing_ok=True)
            w.final.unlink(missing_ok=True)
        for folder in new_folders:
            with suppress(OSError):
                folder.rmdir()
        raise


def _write_sealed_faces(gallery: Gallery, writes: Sequence[FaceWrite]) -> None:
    """``write_faces`` on a database server: everything in one transaction, the embedding copy
    and the chip sealed with the face's own key (``store.sealing``)."""
    added = False
    try:
        with transaction(gallery) as db:
            for w in writes:
                _insert_person_of(db, w)
                key = new_key()
                db.execute(
                    f"INSERT INTO faces(embedding, {FACE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    w.row(gallery.model_id, key),
                )
                db.execute("INSERT INTO face_keys(face_id, key) VALUES (?, ?)", (w.face_id, key))
                db.execute(
                    "INSERT INTO chips(face_id, png) VALUES (?, ?)",
                    (w.face_id, seal(key, w.png, w.face_id)),
                )
            _add_embeddings(gallery, writes)
            added = True
    except BaseException:
        if added:
            _forget_embeddings(gallery, writes)
        raise


def _insert_person_of(db: Database, w: FaceWrite) -> None:
    if w.new_person is not None:
        name, notes, person_created = w.new_person
        try:
            insert_person(db, w.person_id, name, notes, person_created)
        except IntegrityError as exc:
            raise NameTaken(f"there is already someone called {name!r}") from exc


def _add_embeddings(gallery: Gallery, writes: Sequence[FaceWrite]) -> None:
    gallery._index.add(
        [w.face_id for w in writes],
        np.stack([w.embedding for w in writes]),
        [w.person_id for w in writes],
    )


def _forget_embeddings(gallery: Gallery, writes: Sequence[FaceWrite]) -> None:
    try:
        gallery._index.delete([w.face_id for w in writes])
    except Exception:  # reconcile() removes them on the next open
        log.exception("could not remove the embeddings of a failed enrol")


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
