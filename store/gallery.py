"""The face gallery: people, their enrolled faces, and exact nearest-face search.

Under ``data_dir``::

    gallery.db                        SQLite: people, faces (with a copy of each embedding), meta
    chips/<person_id>/<face_id>.png   each face's aligned chip, lossless (a later model can
                                      re-embed the gallery from them)
    chroma/                           Chroma's embedded index (absent when CHROMA_HOST is set)

SQLite is the source of truth and its COMMIT is the commit point of every write. An enrol writes
the chip to a temporary file, inserts the row, adds the embedding to Chroma, moves the chip into
place and only then commits; any failure undoes all of it. A crash (kill -9) between those steps
can leave a chip file or a Chroma record without a committed row, never the reverse;
``reconcile()`` — run on every open — removes such orphans and re-adds any embedding Chroma lost,
from the copy in the database.

One ``Gallery`` is shared by every Streamlit session: every operation runs under one re-entrant
lock, and the SQLite connection is only used under it.

Several processes may share one folder (two app instances, the app and a ``cli.py enroll``
job): every write transaction, and the open with its reconcile, also holds the folder's lock
file exclusively (``store.locking``), so their writes are serialised exactly as threads' are.
Each commit bumps ``meta.generation``; a process whose embedded Chroma index predates the
current generation reloads it before its next search or write, because an embedded Chroma
client never sees another process's additions in its queries (measured, Chroma 1.5).

Deleting erases (``store.erasure``): a deletion or merge records the models whose Chroma
collections held what went in ``meta.erase_pending`` in its own transaction; after COMMIT those
collections are rebuilt from gallery.db, the Chroma folder is purged and gallery.db's log is
checkpointed and cut. A crash half-way leaves the mark, and the next open finishes the job.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from engine.config import Settings
from store.archive import (
    MAX_CHIP_PIXELS,
    GalleryArchive,
    chip_member,
    decode_chip,
    read_archive,
    write_archive,
)
from store.erasure import (
    checkpoint_truncate,
    purge_chroma_folder,
    secure_connection,
    zero_unused_hnsw_capacity,
)
from store.errors import (
    CorruptStore,
    FaceNotFound,
    GalleryError,
    InvalidExport,
    ModelMismatch,
    NameTaken,
    PersonNotFound,
)
from store.faults import fault_of, storage_faults
from store.index import EmbeddingIndex, collection_name, connect, disconnect
from store.locking import GalleryFolderLock
from store.names import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from store.names import clean_name, name_key

if TYPE_CHECKING:
    from engine.faces.pipeline import Face

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "dlib-resnet-v1"
"""``engine.faces.weights.FACE_RESNET_V1.model_id``, literal so the store loads without torch."""
DEFAULT_EMBEDDING_DIM = 128

SCHEMA_VERSION = 1

DUPLICATE_IOU = 0.5
"""A new face whose image (SHA-256) is already stored with a box overlapping this much is the
same face again. Comparing boxes, not just the image hash, lets two people of one group photo be
enrolled from it."""

RERANK_POOL = 50
"""Search asks Chroma for max(4·k, RERANK_POOL) candidates and re-ranks them exactly."""
MAX_PEOPLE_POOL = 4096
"""``nearest_people`` widens its pool up to this many faces to find k different people."""

IMPORT_BATCH = 256
"""Faces written per transaction by ``import_zip``: one Chroma write costs ~20 ms whatever its
size, so one face at a time would make a 10,000-face import take minutes."""

_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TMP_PREFIX = ".tmp-"

_RECOVER_FROM_EXPORT = (
    "start again from your latest export: stop the app and any cli.py job, move the folder "
    "{folder} aside (rename it; keep it until the gallery is back), then import a gallery "
    "export into the fresh gallery that opens in its place: `python cli.py import "
    "EXPORT.zip` (or Gallery.import_zip)."
)
"""The recovery every damaged-store message names; ``cli.py export`` makes the export."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (
    model_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    embedding_dim INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    notes TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES collections(model_id),
    embedding BLOB NOT NULL,
    image_sha256 TEXT NOT NULL,
    box_left REAL NOT NULL,
    box_top REAL NOT NULL,
    box_right REAL NOT NULL,
    box_bottom REAL NOT NULL,
    landmarks TEXT NOT NULL,
    score REAL NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_by_person ON faces(person_id);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces(model_id, image_sha256);
"""

_FACE_COLUMNS = (
    "id, person_id, model_id, image_sha256, box_left, box_top, box_right, box_bottom, "
    "landmarks, score, created"
)


# ---------------------------------------------------------------------------------------------
# Value types


@dataclass(frozen=True)
class Person:
    """Someone in the gallery; ``face_count`` counts faces of the gallery's model."""

    id: str
    name: str
    created: str
    notes: str
    face_count: int


@dataclass(frozen=True)
class StoredFace:
    """An enrolled face: where its chip is, where it came from, and which model embedded it."""

    id: str
    person_id: str
    chip_path: Path
    image_sha256: str
    box: tuple[float, float, float, float]
    """(left, top, right, bottom) in the source image's pixels, dlib's inclusive convention."""
    landmarks: list[list[float]]
    score: float
    created: str
    model_id: str


@dataclass(frozen=True)
class NewFace:
    """A face to enrol: its embedding, its chip and where it was found."""

    embedding: np.ndarray = field(repr=False)
    chip: np.ndarray = field(repr=False)
    image_sha256: str
    box: tuple[float, float, float, float]
    landmarks: np.ndarray = field(repr=False)
    score: float
    model_id: str

    @classmethod
    def from_face(cls, face: Face, image_sha256: str, model_id: str) -> NewFace:
        """From the pipeline's ``Face`` (which must carry its embedding)."""
        if face.embedding is None:
            raise ValueError("the face has no embedding: run the pipeline with embed=True")
        b = face.box
        return cls(
            embedding=np.asarray(face.embedding, dtype=np.float32),
            chip=np.asarray(face.chip),
            image_sha256=image_sha256,
            box=(float(b.left), float(b.top), float(b.right), float(b.bottom)),
            landmarks=np.asarray(face.landmarks, dtype=np.float64),
            score=float(face.score),
            model_id=model_id,
        )


@dataclass(frozen=True)
class EnrollResult:
    """``"duplicate"``: that face of that image was already stored; ``face_id`` and ``person``
    are then the stored face's, which may be another person than the one asked for."""

    status: Literal["enrolled", "duplicate"]
    face_id: str
    person: Person


@dataclass(frozen=True)
class Match:
    """A gallery face near a probe; ``distance`` is the exact Euclidean distance."""

    person: Person
    face_id: str
    distance: float
    chip_path: Path
    model_id: str = DEFAULT_MODEL_ID


@dataclass(frozen=True)
class ImportSummary:
    people_created: int
    people_matched: int
    """Exported people found here already (same id, or same name ignoring case)."""
    faces_imported: int
    faces_skipped: int
    """Faces already stored (same image and box): not imported twice."""
    model_id: str


@dataclass(frozen=True)
class ReconcileReport:
    """What ``reconcile()`` found and fixed; all lists hold file paths or face ids."""

    orphan_chips_removed: list[str] = field(default_factory=list)
    orphan_embeddings_removed: list[str] = field(default_factory=list)
    embeddings_restored: list[str] = field(default_factory=list)
    embeddings_repointed: list[str] = field(default_factory=list)
    faces_without_chip: list[str] = field(default_factory=list)
    """Reported, not deleted: the face still recognises; only its thumbnail is gone."""

    @property
    def changed(self) -> bool:
        return bool(
            self.orphan_chips_removed
            or self.orphan_embeddings_removed
            or self.embeddings_restored
            or self.embeddings_repointed
        )

    def __str__(self) -> str:
        parts = [
            f"{len(self.orphan_chips_removed)} orphan chip files removed",
            f"{len(self.orphan_embeddings_removed)} orphan embeddings removed",
            f"{len(self.embeddings_restored)} embeddings restored",
            f"{len(self.embeddings_repointed)} embeddings re-pointed",
            f"{len(self.faces_without_chip)} faces without a chip",
        ]
        return ", ".join(parts)


@dataclass(frozen=True)
class _FaceWrite:
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
        return self.folder / f"{_TMP_PREFIX}{self.face_id}.png"

    def row(self, model_id: str) -> tuple[Any, ...]:
        """Values for ``INSERT INTO faces(embedding, <_FACE_COLUMNS>)``."""
        return (
            self.embedding.astype("<f4").tobytes(),
            self.face_id,
            self.person_id,
            model_id,
            self.face.image_sha256,
            *(float(v) for v in self.face.box),
            json.dumps(self.landmarks.tolist()),
            float(self.face.score),
            self.created,
        )


# ---------------------------------------------------------------------------------------------
# Helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_id() -> str:
    return uuid.uuid4().hex


_name_key = name_key
_clean_name = clean_name  # store.names: NFC, no invisible or direction controls, 1–200, not an id


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


def _png_bytes(chip: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(chip, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """Slices small enough for an SQL ``IN (?, …)`` list."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _exact_distances(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Euclidean distances in float64, as ``engine.verification.face_distance`` computes them."""
    diff = vectors.astype(np.float64) - query.astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


# ---------------------------------------------------------------------------------------------
# The gallery


class Gallery:
    """People and their faces, persisted in SQLite + chip files + one Chroma collection per model.

    Names are unique ignoring case and repeated spaces, so "enrol into 'ada lovelace'" finds
    "Ada Lovelace" instead of creating a second Ada.
    """

    def __init__(
        self,
        data_dir: Path,
        model_id: str = DEFAULT_MODEL_ID,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        *,
        reconcile_on_open: bool = True,
    ) -> None:
        if not model_id:
            raise ValueError("model_id must not be empty")
        if embedding_dim <= 0:
            raise ValueError("embedding_dim must be positive")
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / "gallery.db"
        self.chips_dir = self.data_dir / "chips"
        self.chroma_dir = None if chroma_host else self.data_dir / "chroma"
        self.embedding_dim = int(embedding_dim)
        self._model_id = model_id
        self._host, self._port = chroma_host, int(chroma_port)
        self._lock = threading.RLock()
        self._closed = False
        self._indexes: dict[str, EmbeddingIndex] = {}
        self.last_reconcile: ReconcileReport | None = None

        self._seen_generation = -1
        """The ``meta`` generation this process's Chroma view reflects; see ``_sync_index``."""

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._folder_lock = GalleryFolderLock(self.data_dir)
        # Opening writes (schema, this model's collection, reconcile): another process opening
        # the same folder at the same moment must wait, not race.
        with storage_faults(), self._folder_lock.exclusive():
            self._refuse_data_without_database()
            self._db = self._open_database()
            self._client: Any = None
            try:
                self.gallery_id = self._register_model()
                self._client = connect(self.chroma_dir, chroma_host, self._port)
                index = self._index_of(model_id, create=True)
                assert index is not None
                self._index = index
                self._zero_unused_capacity()
                self._seen_generation = self._generation()
                if reconcile_on_open:
                    self.last_reconcile = self.reconcile()
                    if self.last_reconcile.changed:
                        log.warning(
                            "gallery at %s repaired: %s", self.location, self.last_reconcile
                        )
            except BaseException:
                self.close()
                raise

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        model_id: str = DEFAULT_MODEL_ID,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    ) -> Gallery:
        """The gallery under ``<data_dir>/gallery``; Chroma at ``CHROMA_HOST``:``CHROMA_PORT``
        (default 8000) when ``CHROMA_HOST`` is set, else embedded under the gallery folder."""
        settings = settings or Settings.from_env()
        host = os.environ.get("CHROMA_HOST", "").strip() or None
        raw_port = os.environ.get("CHROMA_PORT", "").strip() or "8000"
        try:
            port = int(raw_port)
        except ValueError as exc:
            raise ValueError(f"CHROMA_PORT must be a port number, got {raw_port!r}") from exc
        return cls(Path(settings.data_dir) / "gallery", model_id, embedding_dim, host, port)

    # -- opening ---------------------------------------------------------------------------

    def _refuse_data_without_database(self) -> None:
        """A missing gallery.db beside existing chips or a Chroma folder is a lost database, not
        a fresh gallery: starting over would make reconcile delete every chip as an orphan."""
        if self.db_path.exists():
            return
        has_chips = self.chips_dir.is_dir() and any(p.is_file() for p in self.chips_dir.rglob("*"))
        has_index = self.chroma_dir is not None and (self.chroma_dir / "chroma.sqlite3").exists()
        if has_chips or has_index:
            raise CorruptStore(
                f"{self.db_path} is missing but {self.data_dir} still holds "
                f"{'chips' if has_chips else 'a Chroma index'}. Restore gallery.db from a "
                f"backup, or {_RECOVER_FROM_EXPORT.format(folder=self.data_dir)}"
            )

    def _open_database(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.db_path, check_same_thread=False, isolation_level=None, timeout=30
            )
        except sqlite3.Error as exc:
            raise self._corrupt_db(exc) from exc
        try:
            secure_connection(db)  # before any write: deleted names and embeddings are zeroed
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                db.close()
                raise CorruptStore(
                    f"{self.db_path} has schema version {row[0]}, newer than this program "
                    f"understands ({SCHEMA_VERSION}): update Vision Lab."
                )
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._corrupt_db(exc) from exc
        return db

    def _corrupt_db(self, exc: Exception) -> GalleryError:
        """What a database that fails to open is: busy, on a full or broken disk (a
        ``StoreFault``), else damaged."""
        fault = fault_of(exc)
        if fault is not None:
            return fault
        return CorruptStore(
            f"the gallery database {self.db_path} is unreadable ({exc}). Restore gallery.db "
            f"from a backup, or {_RECOVER_FROM_EXPORT.format(folder=self.data_dir)}"
        )

    def _register_model(self) -> str:
        """Record this model's collection (refusing a changed dimension); return the gallery id."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key='gallery_id'").fetchone()
            if row is None:
                gallery_id = _new_id()
                db.execute("INSERT INTO meta(key, value) VALUES ('gallery_id', ?)", (gallery_id,))
            else:
                gallery_id = row[0]
            found = db.execute(
                "SELECT embedding_dim FROM collections WHERE model_id=?", (self._model_id,)
            ).fetchone()
            if found is None:
                db.execute(
                    "INSERT INTO collections(model_id, name, embedding_dim, created) "
                    "VALUES (?, ?, ?, ?)",
                    (self._model_id, collection_name(self._model_id), self.embedding_dim, _now()),
                )
            elif int(found[0]) != self.embedding_dim:
                raise ModelMismatch(
                    f"model {self._model_id!r} is stored here with {found[0]}-d embeddings, "
                    f"not {self.embedding_dim}-d"
                )
        return gallery_id

    def _index_of(self, model_id: str, create: bool = False) -> EmbeddingIndex | None:
        """The Chroma collection of ``model_id``; None when it was never created."""
        if model_id in self._indexes:
            return self._indexes[model_id]
        row = self._db.execute(
            "SELECT embedding_dim FROM collections WHERE model_id=?", (model_id,)
        ).fetchone()
        if row is None:
            return None
        try:
            index = EmbeddingIndex(
                self._client, model_id, int(row[0]), self.gallery_id, self.location, create
            )
        except KeyError:
            return None
        self._indexes[model_id] = index
        return index

    # -- properties ------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def location(self) -> str:
        """Where the gallery lives, for the UI: its folder, or the Chroma server and folder."""
        if self._host:
            return f"Chroma at {self._host}:{self._port}, records in {self.data_dir}"
        return str(self.data_dir)

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception (the connection is autocommit).

        Every committed transaction bumps ``meta.generation``, which tells other processes that
        their Chroma view is out of date (``_sync_index``)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            before = self._generation()
            yield self._db
            self._db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
            )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # also when COMMIT itself failed
                self._db.execute("ROLLBACK")
            raise
        if before == self._seen_generation:  # our view was current and now holds our write
            self._seen_generation = before + 1

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Around every write: this process's threads (the re-entrant lock), other processes
        (the folder lock, exclusive) and a Chroma view that includes their writes. A full
        disk or a locked database, met once the write is undone, leaves as a ``StoreFault``."""
        with self._lock:
            self._check_open()
            with storage_faults(), self._folder_lock.exclusive():
                self._sync_index()
                yield

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Around a Chroma query: the folder lock, shared, so that no other process drops and
        rebuilds the collection (an erasure) between our view check and the query."""
        with self._lock:
            self._check_open()
            with self._folder_lock.shared():
                self._sync_index()
                yield

    def _generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _sync_index(self) -> None:
        """Reload the embedded Chroma index when another process has written since we last
        looked. Measured with Chroma 1.5: an embedded client never sees another process's
        adds in ``query`` (its HNSW lives in memory) though it sees them in ``count``/``get``;
        a client opened afresh sees everything. A Chroma server (``CHROMA_HOST``) has one
        index for everyone and needs nothing. Caller holds ``self._lock``."""
        if self._host or self._generation() == self._seen_generation:
            return
        with self._folder_lock.shared():  # no writer half-way through the files we load
            generation = self._generation()
            self._reconnect()
            self._seen_generation = generation

    def _reconnect(self, between: Callable[[], object] | None = None) -> None:
        """Close the embedded Chroma client (it finishes writing its files), run ``between``
        while no client has the folder open, and open a new client that loads the index from
        disk. Caller holds ``self._lock``."""
        disconnect(self._client)
        self._client = None
        self._indexes.clear()
        if between is not None:
            between()
        self._client = connect(self.chroma_dir, None, self._port)
        index = self._index_of(self._model_id, create=True)
        assert index is not None
        self._index = index
        self._zero_unused_capacity()

    def _zero_unused_capacity(self) -> None:
        """Chroma rewrites each loaded segment's ``data_level0.bin`` when a client opens it, its
        unused capacity filled with memory it never initialised (``store.erasure``): zero that
        part again. Caller holds the folder lock; Chroma writes again only while adding (under
        the exclusive lock) and when the client closes (``close`` zeroes after it)."""
        if self.chroma_dir is None:
            return
        if self._index.count():  # load the segment now: Chroma writes it while loading
            self._index.candidates(np.zeros(self._index.embedding_dim, np.float32), 1)
        zero_unused_hnsw_capacity(self.chroma_dir)

    def _check_open(self) -> None:
        if self._closed:
            raise GalleryError("the gallery is closed")

    def _chip_path(self, person_id: str, face_id: str) -> Path:
        return self.chips_dir / person_id / f"{face_id}.png"

    def _person_rows(self, where: str, params: Sequence[Any], order: str = "") -> list[Person]:
        rows = self._db.execute(
            "SELECT p.id, p.name, p.created, p.notes, "
            "(SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id AND f.model_id = ?) "
            f"FROM people p WHERE {where} {order}",
            (self._model_id, *params),
        ).fetchall()
        return [Person(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def _face_from_row(self, r: Sequence[Any]) -> StoredFace:
        return StoredFace(
            id=r[0],
            person_id=r[1],
            chip_path=self._chip_path(r[1], r[0]),
            image_sha256=r[3],
            box=(r[4], r[5], r[6], r[7]),
            landmarks=json.loads(r[8]),
            score=float(r[9]),
            created=r[10],
            model_id=r[2],
        )

    def _people_by_id(self, ids: set[str]) -> dict[str, Person]:
        found: dict[str, Person] = {}
        for chunk in _chunks(sorted(ids)):
            marks = ",".join("?" * len(chunk))
            found.update((p.id, p) for p in self._person_rows(f"p.id IN ({marks})", chunk))
        return found

    def _check_embedding(self, embedding: np.ndarray, model_id: str | None) -> np.ndarray:
        if model_id is not None and model_id != self._model_id:
            raise ModelMismatch(
                f"this embedding comes from model {model_id!r} but the gallery holds "
                f"{self._model_id!r} embeddings: distances between models mean nothing. "
                f"Re-embed the face with {self._model_id!r}."
            )
        vector = np.asarray(embedding)
        if vector.ndim != 1 or vector.shape[0] != self.embedding_dim:
            raise ModelMismatch(
                f"expected a {self.embedding_dim}-d embedding of {self._model_id!r}, got a "
                f"{'×'.join(map(str, vector.shape)) or 'scalar'}-d one: it comes from another "
                "model"
            )
        if not np.issubdtype(vector.dtype, np.number) or not np.all(np.isfinite(vector)):
            raise ValueError("the embedding holds non-numbers (NaN or infinity)")
        return vector.astype(np.float32)

    # -- people ----------------------------------------------------------------------------

    def add_person(self, name: str, notes: str = "") -> Person:
        """A new person with no faces yet. ``NameTaken`` when the name is in use (any case)."""
        name = _clean_name(name)
        with self._writing():
            person_id = _new_id()
            try:
                with self._transaction() as db:
                    self._insert_person(db, person_id, name, notes, _now())
            except sqlite3.IntegrityError as exc:
                raise NameTaken(f"there is already someone called {name!r}") from exc
            return self.get_person(person_id)

    @staticmethod
    def _insert_person(
        db: sqlite3.Connection, person_id: str, name: str, notes: str, created: str
    ) -> None:
        db.execute(
            "INSERT INTO people(id, name, name_key, notes, created) VALUES (?, ?, ?, ?, ?)",
            (person_id, name, _name_key(name), str(notes), created),
        )

    def get_person(self, person_id: str) -> Person:
        with self._lock:
            self._check_open()
            found = self._person_rows("p.id = ?", [person_id])
        if not found:
            raise PersonNotFound(f"no person with id {person_id!r} in the gallery")
        return found[0]

    def find_person(self, name: str) -> Person | None:
        """The person called ``name``, ignoring case and repeated spaces."""
        with self._lock:
            self._check_open()
            found = self._person_rows("p.name_key = ?", [_name_key(name)])
        return found[0] if found else None

    def people(self) -> list[Person]:
        """Everyone, sorted by name (case-insensitive)."""
        with self._lock:
            self._check_open()
            return self._person_rows("1", [], order="ORDER BY p.name_key, p.id")

    def count_people(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT COUNT(*) FROM people").fetchone()[0])

    def rename(self, person_id: str, new_name: str) -> Person:
        """``NameTaken`` when someone else has the name; changing only its case is allowed."""
        new_name = _clean_name(new_name)
        with self._writing():
            self.get_person(person_id)
            try:
                with self._transaction() as db:
                    db.execute(
                        "UPDATE people SET name=?, name_key=? WHERE id=?",
                        (new_name, _name_key(new_name), person_id),
                    )
            except sqlite3.IntegrityError as exc:
                raise NameTaken(f"there is already someone called {new_name!r}") from exc
            checkpoint_truncate(self._db)  # the old name's page versions leave the log
            return self.get_person(person_id)

    def set_notes(self, person_id: str, notes: str) -> Person:
        with self._writing():
            self.get_person(person_id)
            with self._transaction() as db:
                db.execute("UPDATE people SET notes=? WHERE id=?", (str(notes), person_id))
            checkpoint_truncate(self._db)  # the old notes' page versions leave the log
            return self.get_person(person_id)

    # -- faces -----------------------------------------------------------------------------

    def faces_of(self, person_id: str) -> list[StoredFace]:
        """The person's faces of this gallery's model, oldest first."""
        with self._lock:
            self.get_person(person_id)
            rows = self._db.execute(
                f"SELECT {_FACE_COLUMNS} FROM faces WHERE person_id=? AND model_id=? "
                "ORDER BY created, id",
                (person_id, self._model_id),
            ).fetchall()
        return [self._face_from_row(r) for r in rows]

    def get_face(self, face_id: str) -> StoredFace:
        with self._lock:
            self._check_open()
            row = self._db.execute(
                f"SELECT {_FACE_COLUMNS} FROM faces WHERE id=?", (face_id,)
            ).fetchone()
        if row is None:
            raise FaceNotFound(f"no face with id {face_id!r} in the gallery")
        return self._face_from_row(row)

    def person_embeddings(self, person_id: str) -> np.ndarray:
        """(n, dim) float32 embeddings of the person's faces, in ``faces_of`` order."""
        with self._lock:
            self.get_person(person_id)
            rows = self._db.execute(
                "SELECT embedding FROM faces WHERE person_id=? AND model_id=? ORDER BY created, id",
                (person_id, self._model_id),
            ).fetchall()
        vectors = [np.frombuffer(r[0], dtype="<f4") for r in rows]
        if not vectors:
            return np.zeros((0, self.embedding_dim), np.float32)
        return np.stack(vectors).astype(np.float32)

    def count_faces(self) -> int:
        """Faces of this gallery's model."""
        with self._lock:
            self._check_open()
            row = self._db.execute(
                "SELECT COUNT(*) FROM faces WHERE model_id=?", (self._model_id,)
            ).fetchone()
        return int(row[0])

    def _validate_new_face(self, face: NewFace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embedding (float32), chip (uint8 RGB) and landmarks, or a clear error."""
        if face.model_id != self._model_id:
            raise ModelMismatch(
                f"cannot store a {face.model_id!r} embedding in the {self._model_id!r} gallery: "
                "embeddings of different models are never mixed"
            )
        embedding = self._check_embedding(face.embedding, face.model_id)
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

    def _find_duplicate(
        self, face: NewFace, pending: Sequence[_FaceWrite] = ()
    ) -> tuple[str, str] | None:
        """(face id, person id) of the same face already stored, or among ``pending``."""
        rows = self._db.execute(
            "SELECT id, person_id, box_left, box_top, box_right, box_bottom FROM faces "
            "WHERE model_id=? AND image_sha256=?",
            (self._model_id, face.image_sha256),
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

    def _resolve_person(self, person: str | Person, create: bool) -> tuple[str, str | None]:
        """(person id, name to create or None). 32 hex digits are an id; anything else a name."""
        if isinstance(person, Person):
            self.get_person(person.id)
            return person.id, None
        if _ID.match(person):  # names never look like ids (store.names), so this is an id
            self.get_person(person)
            return person, None
        found = self.find_person(person)
        if found is not None:
            return found.id, None
        if not create:
            raise PersonNotFound(f"no person {person!r} in the gallery")
        return _new_id(), _clean_name(person)

    def enroll(self, person: str | Person, face: NewFace, *, create: bool = True) -> EnrollResult:
        """Store one face of a person (by ``Person``, id or name); one image is enough.

        A new name creates the person (``create=False``: ``PersonNotFound`` instead), in the same
        transaction as the face. The same face of the same image (SHA-256 and overlapping box)
        is not stored twice: the result says ``"duplicate"`` and nothing is written.
        Embedding, chip and rows are written all or nothing (see the module docstring).
        """
        embedding, chip, landmarks = self._validate_new_face(face)
        png = _png_bytes(chip)
        with self._writing():
            duplicate = self._find_duplicate(face)
            if duplicate is not None:
                return EnrollResult("duplicate", duplicate[0], self.get_person(duplicate[1]))
            person_id, new_name = self._resolve_person(person, create)
            now = _now()
            write = _FaceWrite(
                self.chips_dir,
                _new_id(),
                person_id,
                None if new_name is None else (new_name, "", now),
                now,
                face,
                embedding,
                png,
                landmarks,
            )
            self._write_faces([write])
            return EnrollResult("enrolled", write.face_id, self.get_person(person_id))

    def _write_faces(self, writes: Sequence[_FaceWrite]) -> None:
        """The atomic enrol, for one face or a batch: temp chips → rows → Chroma → chips in
        place → COMMIT. Any failure undoes all of it (rows rolled back, embeddings deleted,
        chip files and new folders removed) and re-raises."""
        new_folders = {
            w.folder for w in writes if not w.folder.is_dir()
        }  # removed again on failure
        added = False
        try:
            for w in writes:
                w.folder.mkdir(parents=True, exist_ok=True)
                _write_durably(w.temp, w.png)
            with self._transaction() as db:
                for w in writes:
                    if w.new_person is not None:
                        name, notes, person_created = w.new_person
                        try:
                            self._insert_person(db, w.person_id, name, notes, person_created)
                        except sqlite3.IntegrityError as exc:
                            raise NameTaken(f"there is already someone called {name!r}") from exc
                    db.execute(
                        f"INSERT INTO faces(embedding, {_FACE_COLUMNS}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        w.row(self._model_id),
                    )
                self._index.add(
                    [w.face_id for w in writes],
                    np.stack([w.embedding for w in writes]),
                    [w.person_id for w in writes],
                )
                added = True
                for w in writes:
                    os.replace(w.temp, w.final)
        except BaseException:
            if added:
                try:
                    self._index.delete([w.face_id for w in writes])
                except Exception:  # reconcile() removes them on the next open
                    log.exception("could not remove the embeddings of a failed enrol")
            for w in writes:
                w.temp.unlink(missing_ok=True)
                w.final.unlink(missing_ok=True)
            for folder in new_folders:
                with suppress(OSError):
                    folder.rmdir()
            raise

    def delete_face(self, face_id: str) -> None:
        """Remove one face: its row, its embedding and its chip file."""
        with self._writing():
            face = self.get_face(face_id)
            index = self._index_of(face.model_id)
            with self._transaction() as db:
                db.execute("DELETE FROM faces WHERE id=?", (face_id,))
                self._mark_erase_pending(db, [face.model_id])
                if index is not None:
                    index.delete([face_id])
            face.chip_path.unlink(missing_ok=True)
            self._erase_pending()

    def delete_person(self, person_id: str) -> None:
        """Remove a person and everything of them: rows, embeddings of every model, chips."""
        with self._writing():
            self.get_person(person_id)
            by_model = self._face_ids_by_model("person_id=?", [person_id])
            with self._transaction() as db:
                db.execute("DELETE FROM people WHERE id=?", (person_id,))  # faces cascade
                self._mark_erase_pending(db, list(by_model))
                for model_id, ids in by_model.items():
                    index = self._index_of(model_id)
                    if index is not None:
                        index.delete(ids)
            # After COMMIT: a file left behind (say, a permission error) is an orphan that
            # reconcile() removes; the person is gone either way.
            shutil.rmtree(self.chips_dir / person_id, ignore_errors=True)
            self._erase_pending()

    def _face_ids_by_model(self, where: str, params: Sequence[Any]) -> dict[str, list[str]]:
        by_model: dict[str, list[str]] = {}
        for face_id, model_id in self._db.execute(
            f"SELECT id, model_id FROM faces WHERE {where}", tuple(params)
        ):
            by_model.setdefault(model_id, []).append(face_id)
        return by_model

    def merge(self, keep_id: str, absorb_id: str) -> Person:
        """Move every face of ``absorb_id`` to ``keep_id`` (rows, Chroma metadata, chip files),
        append its notes, then delete it. All or nothing."""
        if keep_id == absorb_id:
            raise ValueError("cannot merge a person with themselves")
        with self._writing():
            keep, absorb = self.get_person(keep_id), self.get_person(absorb_id)
            by_model = self._face_ids_by_model("person_id=?", [absorb_id])
            moved: list[tuple[Path, Path]] = []
            repointed: list[tuple[EmbeddingIndex, list[str]]] = []
            try:
                with self._transaction() as db:
                    db.execute(
                        "UPDATE faces SET person_id=? WHERE person_id=?", (keep_id, absorb_id)
                    )
                    notes = "\n".join(n for n in (keep.notes, absorb.notes) if n.strip())
                    db.execute("UPDATE people SET notes=? WHERE id=?", (notes, keep_id))
                    db.execute("DELETE FROM people WHERE id=?", (absorb_id,))
                    # Chroma's queue and HNSW files still hold the records under absorb_id.
                    self._mark_erase_pending(db, list(by_model))
                    for model_id, ids in by_model.items():
                        index = self._index_of(model_id)
                        if index is not None:
                            index.set_person(ids, keep_id)
                            repointed.append((index, ids))
                    (self.chips_dir / keep_id).mkdir(parents=True, exist_ok=True)
                    for ids in by_model.values():
                        for face_id in ids:
                            source = self._chip_path(absorb_id, face_id)
                            target = self._chip_path(keep_id, face_id)
                            if source.exists():
                                os.replace(source, target)
                                moved.append((source, target))
            except BaseException:
                for source, target in reversed(moved):
                    os.replace(target, source)
                for index, ids in repointed:
                    try:
                        index.set_person(ids, absorb_id)
                    except Exception:  # reconcile() re-points it from the database
                        log.exception("could not undo a merge in Chroma")
                raise
            shutil.rmtree(self.chips_dir / absorb_id, ignore_errors=True)
            self._erase_pending()
            return self.get_person(keep_id)

    # -- erasure (see store.erasure) ---------------------------------------------------------

    def _mark_erase_pending(self, db: sqlite3.Connection, model_ids: Sequence[str]) -> None:
        """Inside the deleting transaction: these models' collections must be rebuilt."""
        row = db.execute("SELECT value FROM meta WHERE key='erase_pending'").fetchone()
        pending = set(json.loads(row[0])) if row else set()
        pending.update(model_ids)  # none (a person without faces): gallery.db only
        db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('erase_pending', ?)",
            (json.dumps(sorted(pending)),),
        )

    def _erase_pending(self) -> None:
        """Rebuild the collections a deletion touched, purge the Chroma folder, then clear the
        mark and cut gallery.db's log. Caller holds ``_writing()``. Its COMMIT bumps the
        generation, so other processes reload the rebuilt collections."""
        row = self._db.execute("SELECT value FROM meta WHERE key='erase_pending'").fetchone()
        if row is None:
            return
        for model_id in json.loads(row[0]):
            self._rebuild_index(model_id)
        if self.chroma_dir is not None:
            chroma_dir = self.chroma_dir
            self._reconnect(between=lambda: purge_chroma_folder(chroma_dir))
        with self._transaction() as db:
            db.execute("DELETE FROM meta WHERE key='erase_pending'")
        checkpoint_truncate(self._db)

    def _rebuild_index(self, model_id: str) -> None:
        """Drop ``model_id``'s collection and add every embedding gallery.db holds for it: HNSW
        only marks a deleted vector deleted, and Chroma cannot compact (``store.erasure``)."""
        row = self._db.execute(
            "SELECT embedding_dim FROM collections WHERE model_id=?", (model_id,)
        ).fetchone()
        if row is None:
            return
        old = self._index_of(model_id)
        if old is not None:
            old.drop()
        self._indexes.pop(model_id, None)
        index = self._index_of(model_id, create=True)
        assert index is not None
        rows = self._db.execute(
            "SELECT id, person_id, embedding FROM faces WHERE model_id=? ORDER BY id", (model_id,)
        )
        while batch := rows.fetchmany(index.batch_size):
            vectors = np.stack([np.frombuffer(r[2], dtype="<f4") for r in batch])
            index.add([r[0] for r in batch], vectors, [r[1] for r in batch])
        if model_id == self._model_id:
            self._index = index

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        embedding: np.ndarray,
        k: int = 5,
        model_id: str | None = None,
        person_id: str | None = None,
    ) -> list[Match]:
        """The ``k`` nearest faces by exact Euclidean distance, nearest first.

        Chroma's HNSW gives max(4·k, RERANK_POOL) approximate candidates; their distances are
        then recomputed exactly (float64) and sorted. HNSW's recall@50 is far above its
        recall@1, so the true nearest face is almost always in the pool, and every distance
        returned is the engine's own (comparable with the 0.6 threshold) rather than Chroma's
        squared float32 one. ``person_id`` restricts the search to that person's faces
        (exhaustive: one person has few). ``ModelMismatch`` when ``model_id`` is given and
        differs, or the embedding has the wrong dimension.
        """
        query = self._check_embedding(embedding, model_id)
        if k <= 0:
            return []
        with self._reading():
            if person_id is not None:
                ids, vectors = self._person_vectors(person_id)
            else:
                ids, vectors = self._index.candidates(query, max(4 * k, RERANK_POOL))
            return self._ranked_matches(query, ids, vectors)[:k]

    def nearest_people(
        self, embedding: np.ndarray, k: int = 5, model_id: str | None = None
    ) -> list[Match]:
        """The ``k`` nearest people, each by their nearest face (exact distances).

        The candidate pool grows (×4, up to ``MAX_PEOPLE_POOL`` faces) until it holds ``k``
        different people; people further away than that many faces are not ranked.
        """
        query = self._check_embedding(embedding, model_id)
        if k <= 0:
            return []
        with self._reading():
            total, with_faces = self._db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT person_id) FROM faces WHERE model_id=?",
                (self._model_id,),
            ).fetchone()
            wanted = min(k, int(with_faces))
            pool = max(4 * k, RERANK_POOL)
            while True:
                ids, vectors = self._index.candidates(query, pool)
                best: dict[str, Match] = {}
                for match in self._ranked_matches(query, ids, vectors):
                    best.setdefault(match.person.id, match)
                if len(best) >= wanted or pool >= min(total, MAX_PEOPLE_POOL):
                    return list(best.values())[:k]
                pool = min(pool * 4, MAX_PEOPLE_POOL)

    def _person_vectors(self, person_id: str) -> tuple[list[str], np.ndarray]:
        self.get_person(person_id)
        rows = self._db.execute(
            "SELECT id, embedding FROM faces WHERE person_id=? AND model_id=?",
            (person_id, self._model_id),
        ).fetchall()
        vectors = np.array(
            [np.frombuffer(r[1], dtype="<f4") for r in rows], dtype=np.float32
        ).reshape(len(rows), self.embedding_dim)
        return [r[0] for r in rows], vectors

    def _ranked_matches(
        self, query: np.ndarray, ids: list[str], vectors: np.ndarray
    ) -> list[Match]:
        """Matches sorted by exact distance; ids without a face row (an enrol or delete caught
        half-way by another process) are skipped."""
        if not ids:
            return []
        distances = _exact_distances(query, vectors)
        owner: dict[str, str] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            owner.update(
                self._db.execute(
                    f"SELECT id, person_id FROM faces WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        people = self._people_by_id(set(owner.values()))
        matches = []
        for i in np.argsort(distances, kind="stable"):
            face_id = ids[int(i)]
            person_id = owner.get(face_id)
            if person_id is None or person_id not in people:
                continue
            matches.append(
                Match(
                    person=people[person_id],
                    face_id=face_id,
                    distance=float(distances[i]),
                    chip_path=self._chip_path(person_id, face_id),
                    model_id=self._model_id,
                )
            )
        return matches

    # -- consistency -----------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make disk, Chroma and the database agree again after a crash; say what was fixed.

        - chip files (and temporary chips) without a face row → deleted;
        - Chroma records of this model without a face row → deleted;
        - face rows whose embedding Chroma lacks → re-added from the database copy;
        - Chroma records pointing at the wrong person (a merge cut short) → re-pointed;
        - face rows without a chip file → reported only.
        Other models' collections are reconciled when a gallery of that model is opened.
        """
        report = ReconcileReport()
        with self._writing():
            # A deletion cut short by a crash is finished first, before the old collection is
            # read: the rebuild then starts from gallery.db alone.
            self._erase_pending()
            owners = dict(self._db.execute("SELECT id, person_id FROM faces").fetchall())
            people = {r[0] for r in self._db.execute("SELECT id FROM people")}
            self._remove_orphan_chips(owners, people, report)
            mine = dict(
                self._db.execute(
                    "SELECT id, person_id FROM faces WHERE model_id=?", (self._model_id,)
                ).fetchall()
            )
            records = self._index.all_records()
            orphans = sorted(set(records) - set(mine))
            if orphans:
                self._index.delete(orphans)
                report.orphan_embeddings_removed.extend(orphans)
            missing = sorted(set(mine) - set(records))
            for chunk in _chunks(missing):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, person_id, embedding FROM faces WHERE id IN ({marks})",
                    tuple(chunk),
                ).fetchall()
                vectors = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows])
                self._index.add([r[0] for r in rows], vectors, [r[1] for r in rows])
                report.embeddings_restored.extend(r[0] for r in rows)
            wrong: dict[str, list[str]] = {}
            for face_id, person_id in mine.items():
                if face_id in records and records[face_id] != person_id:
                    wrong.setdefault(person_id, []).append(face_id)
            for person_id, ids in wrong.items():
                self._index.set_person(ids, person_id)
                report.embeddings_repointed.extend(ids)
            report.faces_without_chip.extend(
                face_id
                for face_id, person_id in owners.items()
                if not self._chip_path(person_id, face_id).is_file()
            )
            if report.changed:
                with self._transaction():  # Chroma changed: other processes must reload it
                    pass
        return report

    def _remove_orphan_chips(
        self, owners: dict[str, str], people: set[str], report: ReconcileReport
    ) -> None:
        if not self.chips_dir.is_dir():
            return
        for folder in sorted(self.chips_dir.iterdir()):
            if not folder.is_dir():
                folder.unlink()
                report.orphan_chips_removed.append(str(folder))
                continue
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                    report.orphan_chips_removed.append(str(path))
                    continue
                face_id = path.stem
                if (
                    path.suffix == ".png"
                    and not path.name.startswith(_TMP_PREFIX)
                    and owners.get(face_id) == folder.name
                ):
                    continue
                path.unlink(missing_ok=True)
                report.orphan_chips_removed.append(str(path))
            if folder.name not in people and not any(folder.iterdir()):
                folder.rmdir()

    # -- export / import -------------------------------------------------------------------

    def export_zip(self, path: Path) -> Path:
        """Write everyone and this model's faces (embeddings and chips included) to a zip; see
        ``store.archive`` for the layout. A folder as ``path`` gets ``gallery-export.zip``."""
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / "gallery-export.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._check_open()
            people = [
                {"id": r[0], "name": r[1], "notes": r[2], "created": r[3]}
                for r in self._db.execute(
                    "SELECT id, name, notes, created FROM people ORDER BY name_key, id"
                )
            ]
            rows = self._db.execute(
                f"SELECT embedding, {_FACE_COLUMNS} FROM faces WHERE model_id=? "
                "ORDER BY created, id",
                (self._model_id,),
            ).fetchall()
            chips: dict[str, bytes] = {}
            faces, vectors = [], []
            for row in rows:
                face = self._face_from_row(row[1:])
                try:
                    chip = face.chip_path.read_bytes()
                except FileNotFoundError:
                    log.warning("face %s has no chip file: left out of the export", face.id)
                    continue
                member = chip_member(face.person_id, face.id)
                chips[member] = chip
                vectors.append(np.frombuffer(row[0], dtype="<f4"))
                faces.append(
                    {
                        "id": face.id,
                        "person_id": face.person_id,
                        "image_sha256": face.image_sha256,
                        "box": list(face.box),
                        "landmarks": face.landmarks,
                        "score": face.score,
                        "created": face.created,
                        "chip": member,
                    }
                )
        embeddings = np.stack(vectors) if vectors else np.zeros((0, self.embedding_dim))
        archive = GalleryArchive(
            self._model_id, self.embedding_dim, SCHEMA_VERSION, people, faces, embeddings, chips
        )
        return write_archive(path, archive)

    def import_zip(self, path: Path) -> ImportSummary:
        """Add an export's people and faces.

        The whole archive is checked before anything is written (``store.archive``), then the
        faces are enrolled in atomic batches of ``IMPORT_BATCH`` (each face is wholly in or
        out). Exported people are matched to people here by id, then by name (ignoring case);
        faces already here (same image and box) are skipped.
        """
        archive = read_archive(Path(path), self._model_id, self.embedding_dim)
        try:
            names = {p["id"]: _clean_name(p["name"]) for p in archive.people}
            incoming = []
            for i, f in enumerate(archive.faces):
                new_face = NewFace(
                    embedding=archive.embeddings[i],
                    chip=decode_chip(archive.chips[f["chip"]], f["chip"]),
                    image_sha256=str(f["image_sha256"]),
                    box=tuple(float(v) for v in f["box"]),  # type: ignore[arg-type]
                    landmarks=np.asarray(f["landmarks"], dtype=np.float64),
                    score=float(f["score"]),
                    model_id=self._model_id,
                )
                embedding, chip, landmarks = self._validate_new_face(new_face)
                incoming.append((f, new_face, embedding, _png_bytes(chip), landmarks))
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidExport(f"{path}: a record is invalid ({exc})") from exc

        details = {
            p["id"]: (str(p.get("notes", "")), str(p.get("created") or _now()))
            for p in archive.people
        }
        local_id: dict[str, str] = {}
        created = matched = imported = skipped = 0
        with self._lock:
            self._check_open()
            for exported_id, name in names.items():
                found = self._person_rows("p.id = ?", [exported_id]) or [self.find_person(name)]
                if found[0] is not None:
                    local_id[exported_id] = found[0].id
                    matched += 1
        for start in range(0, len(incoming), IMPORT_BATCH):
            with self._writing():  # per batch: others' searches and writes are not held long
                batch: list[_FaceWrite] = []
                for f, new_face, embedding, png, landmarks in incoming[
                    start : start + IMPORT_BATCH
                ]:
                    if self._find_duplicate(new_face, batch) is not None:
                        skipped += 1
                        continue
                    exported = f["person_id"]
                    new_person = None
                    if exported not in local_id:
                        new_person = (names[exported], *details[exported])
                        local_id[exported] = exported
                        created += 1
                    taken = self._db.execute("SELECT 1 FROM faces WHERE id=?", (f["id"],))
                    batch.append(
                        _FaceWrite(
                            self.chips_dir,
                            _new_id() if taken.fetchone() else f["id"],
                            local_id[exported],
                            new_person,
                            str(f.get("created") or _now()),
                            new_face,
                            embedding,
                            png,
                            landmarks,
                        )
                    )
                if batch:
                    try:
                        self._write_faces(batch)
                    except BaseException:
                        for w in batch:  # those people were not created after all
                            if w.new_person is not None:
                                local_id.pop(w.person_id, None)
                        raise
                imported += len(batch)
        with self._writing():  # people with no face of this model in the export
            for exported_id, name in names.items():
                if exported_id in local_id:
                    continue
                try:
                    with self._transaction() as db:
                        self._insert_person(db, exported_id, name, *details[exported_id])
                    created += 1
                except sqlite3.IntegrityError:  # someone took the name meanwhile
                    matched += 1
        return ImportSummary(created, matched, imported, skipped, self._model_id)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database and the Chroma client; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
            if self._client is None:
                return
            # Closing, Chroma writes its whole buffer again: zero the unused part after it,
            # with no other process half-way through a write.
            with self._folder_lock.exclusive():
                disconnect(self._client)
                if self.chroma_dir is not None:
                    zero_unused_hnsw_capacity(self.chroma_dir)

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
