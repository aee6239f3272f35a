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

Where the code is: this file is the API and the operations on people and faces; the records
are in ``store.records``, opening, transactions, locks and the Chroma view in ``store.db``, the
atomic face write in ``store.face_writes``, search in ``store.search``, ``reconcile`` in
``store.reconcile`` and export / import in ``store.transfer``.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import create_engine

import store.reconcile
import store.relocation
import store.search
import store.transfer
from engine.config import Settings
from store.database import IntegrityError, shown, sqlite_url
from store.database import database_url as database_url_of
from store.db import (
    FACE_COLUMNS,
    FACE_KEY,
    chip_path,
    chip_png,
    claim_embedded_index,
    erase_pending,
    face_from_row,
    face_ids_by_model,
    generation,
    index_of,
    insert_person,
    mark_erase_pending,
    open_database,
    person_rows,
    refuse_data_without_database,
    register_model,
    stored_embedding,
    transaction,
    writing,
    zero_unused_capacity,
)
from store.db import SCHEMA_VERSION as SCHEMA_VERSION
from store.erasure import zero_unused_hnsw_capacity
from store.errors import FaceNotFound, GalleryError, NameTaken, PersonNotFound
from store.face_writes import (
    FaceWrite,
    find_duplicate,
    png_bytes,
    resolve_person,
    validate_new_face,
    write_faces,
)
from store.faults import storage_faults
from store.index import EmbeddingIndex, connect, disconnect
from store.locking import DatabaseLock, GalleryFolderLock
from store.names import MAX_NAME_LENGTH as MAX_NAME_LENGTH
from store.names import clean_name, name_key
from store.records import (
    DEFAULT_EMBEDDING_DIM,
    DEFAULT_MODEL_ID,
    EnrollResult,
    ImportSummary,
    Match,
    NewFace,
    Person,
    ReconcileReport,
    StoredFace,
    new_id,
    now,
)
from store.search import RERANK_POOL as RERANK_POOL

log = logging.getLogger(__name__)


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
        database_url: str | None = None,
        reconcile_on_open: bool = True,
    ) -> None:
        if not model_id:
            raise ValueError("model_id must not be empty")
        if embedding_dim <= 0:
            raise ValueError("embedding_dim must be positive")
        self.data_dir = Path(data_dir)
        self.database_url = (
            database_url_of(database_url)
            if database_url
            else sqlite_url(self.data_dir / "gallery.db")
        )
        self.db_path: Path | None = (
            Path(self.database_url.database or "")
            if self.database_url.get_backend_name() == "sqlite"
            else None
        )
        """The SQLite file; None when the database is a server."""
        self.chips_dir = self.data_dir / "chips"
        self.chips_in_database = self.db_path is None
        """On a database server chips are rows, shared by every instance (``store.sealing``);
        a SQLite gallery keeps them as files under ``chips_dir``."""
        self.chroma_dir = None if chroma_host else self.data_dir / "chroma"
        self.embedding_dim = int(embedding_dim)
        self._model_id = model_id
        self._host, self._port = chroma_host, int(chroma_port)
        self._lock = threading.RLock()
        self._closed = False
        self._indexes: dict[str, EmbeddingIndex] = {}
        self.last_reconcile: ReconcileReport | None = None

        self._seen_generation = -1
        """The ``meta`` generation this process's Chroma view reflects; see ``store.db``."""

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._folder_lock = (
            GalleryFolderLock(self.data_dir)
            if self.db_path is not None
            else DatabaseLock(create_engine(self.database_url, isolation_level="AUTOCOMMIT"))
        )
        # Opening writes (schema, this model's collection, reconcile): another process opening
        # the same folder at the same moment must wait, not race.
        with storage_faults(), self._folder_lock.exclusive():
            refuse_data_without_database(self)
            self._db = open_database(self)
            self._client: Any = None
            try:
                self.gallery_id = register_model(self)
                claim_embedded_index(self)
                self._client = connect(self.chroma_dir, chroma_host, self._port)
                index = index_of(self, model_id, create=True)
                assert index is not None
                self._index = index
                zero_unused_capacity(self)
                self._seen_generation = generation(self)
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
        settings: Settings,
        model_id: str = DEFAULT_MODEL_ID,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    ) -> Gallery:
        """The gallery under ``<data_dir>/gallery``; Chroma at ``settings.chroma_host``
        (``CHROMA_HOST``) when set, else embedded under the gallery folder."""
        return cls(
            Path(settings.data_dir) / "gallery",
            model_id,
            embedding_dim,
            settings.chroma_host,
            settings.chroma_port,
            database_url=settings.database_url,
        )

    # -- properties ------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def database_label(self) -> str:
        """The database as messages name it: the SQLite file, or the server's URL without its
        password."""
        return str(self.db_path) if self.db_path is not None else shown(self.database_url)

    @property
    def location(self) -> str:
        """Where the gallery lives, for the UI: its folder, or the Chroma server and folder."""
        if self._host:
            return f"Chroma at {self._host}:{self._port}, records in {self.data_dir}"
        return str(self.data_dir)

    def _check_open(self) -> None:
        if self._closed:
            raise GalleryError("the gallery is closed")

    # -- people ----------------------------------------------------------------------------

    def add_person(self, name: str, notes: str = "") -> Person:
        """A new person with no faces yet. ``NameTaken`` when the name is in use (any case)."""
        name = clean_name(name)  # store.names: NFC, no invisible or direction controls, not an id
        with writing(self):
            person_id = new_id()
            try:
                with transaction(self) as db:
                    insert_person(db, person_id, name, notes, now())
            except IntegrityError as exc:
                raise NameTaken(f"there is already someone called {name!r}") from exc
            return self.get_person(person_id)

    def get_person(self, person_id: str) -> Person:
        with self._lock:
            self._check_open()
            found = person_rows(self, "p.id = ?", [person_id])
        if not found:
            raise PersonNotFound(f"no person with id {person_id!r} in the gallery")
        return found[0]

    def find_person(self, name: str) -> Person | None:
        """The person called ``name``, ignoring case and repeated spaces."""
        with self._lock:
            self._check_open()
            found = person_rows(self, "p.name_key = ?", [name_key(name)])
        return found[0] if found else None

    def people(self) -> list[Person]:
        """Everyone, sorted by name (case-insensitive)."""
        with self._lock:
            self._check_open()
            return person_rows(self, "TRUE", [], order="ORDER BY p.name_key, p.id")

    def count_people(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT COUNT(*) FROM people").fetchone()[0])

    def rename(self, person_id: str, new_name: str) -> Person:
        """``NameTaken`` when someone else has the name; changing only its case is allowed."""
        new_name = clean_name(new_name)
        with writing(self):
            self.get_person(person_id)
            try:
                with transaction(self) as db:
                    db.execute(
                        "UPDATE people SET name=?, name_key=? WHERE id=?",
                        (new_name, name_key(new_name), person_id),
                    )
            except IntegrityError as exc:
                raise NameTaken(f"there is already someone called {new_name!r}") from exc
            self._db.erase_old_versions()  # the old name's row versions go
            return self.get_person(person_id)

    def set_notes(self, person_id: str, notes: str) -> Person:
        with writing(self):
            self.get_person(person_id)
            with transaction(self) as db:
                db.execute("UPDATE people SET notes=? WHERE id=?", (str(notes), person_id))
            self._db.erase_old_versions()  # the old notes' row versions go
            return self.get_person(person_id)

    # -- faces -----------------------------------------------------------------------------

    def faces_of(self, person_id: str) -> list[StoredFace]:
        """The person's faces of this gallery's model, oldest first."""
        with self._lock:
            self.get_person(person_id)
            rows = self._db.execute(
                f"SELECT {FACE_COLUMNS} FROM faces WHERE person_id=? AND model_id=? "
                "ORDER BY created, id",
                (person_id, self._model_id),
            ).fetchall()
        return [face_from_row(self, r) for r in rows]

    def get_face(self, face_id: str) -> StoredFace:
        with self._lock:
            self._check_open()
            row = self._db.execute(
                f"SELECT {FACE_COLUMNS} FROM faces WHERE id=?", (face_id,)
            ).fetchone()
        if row is None:
            raise FaceNotFound(f"no face with id {face_id!r} in the gallery")
        return face_from_row(self, row)

    def chip_png(self, face_id: str) -> bytes | None:
        """The face's stored chip (lossless PNG), from its file or, on a database server, its
        row; None when it has gone missing (``reconcile`` reports such faces) or the face
        has been deleted meanwhile."""
        try:
            face = self.get_face(face_id)
        except FaceNotFound:
            return None
        with self._lock:
            self._check_open()
            return chip_png(self, face.id, face.person_id)

    def chip_rgb(self, face_id: str) -> np.ndarray | None:
        """The chip decoded, (H, W, 3) uint8 RGB; None as for ``chip_png`` or when it does not
        decode (the face still clusters and re-embeds from its row; it shows no picture)."""
        png = self.chip_png(face_id)
        if png is None:
            return None
        try:
            with Image.open(io.BytesIO(png)) as image:
                return np.asarray(image.convert("RGB"))
        except OSError:
            return None

    def faces_from_image(self, image_sha256: str) -> list[StoredFace]:
        """This model's faces cut from the image file with this SHA-256, oldest first.

        One indexed lookup, no decoding: how a bulk enrolment recognises a file it already
        took before spending a detection and an embedding on it again.
        """
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                f"SELECT {FACE_COLUMNS} FROM faces WHERE model_id=? AND image_sha256=? "
                "ORDER BY created, id",
                (self._model_id, str(image_sha256)),
            ).fetchall()
        return [face_from_row(self, r) for r in rows]

    def person_embeddings(self, person_id: str) -> np.ndarray:
        """(n, dim) float32 embeddings of the person's faces, in ``faces_of`` order."""
        with self._lock:
            self.get_person(person_id)
            rows = self._db.execute(
                f"SELECT embedding, {FACE_KEY}, id FROM faces WHERE person_id=? AND model_id=? "
                "ORDER BY created, id",
                (person_id, self._model_id),
            ).fetchall()
        vectors = [stored_embedding(r[0], r[1], r[2]) for r in rows]
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

    def enroll(self, person: str | Person, face: NewFace, *, create: bool = True) -> EnrollResult:
        """Store one face of a person (by ``Person``, id or name); one image is enough.

        A new name creates the person (``create=False``: ``PersonNotFound`` instead), in the same
        transaction as the face. The same face of the same image (SHA-256 and overlapping box)
        is not stored twice: the result says ``"duplicate"`` and nothing is written.
        Embedding, chip and rows are written all or nothing (``store.face_writes``).
        """
        embedding, chip, landmarks = validate_new_face(self, face)
        png = png_bytes(chip)
        with writing(self):
            duplicate = find_duplicate(self, face)
            if duplicate is not None:
                return EnrollResult("duplicate", duplicate[0], self.get_person(duplicate[1]))
            person_id, new_name = resolve_person(self, person, create)
            created = now()
            write = FaceWrite(
                self.chips_dir,
                new_id(),
                person_id,
                None if new_name is None else (new_name, "", created),
                created,
                face,
                embedding,
                png,
                landmarks,
            )
            write_faces(self, [write])
            return EnrollResult("enrolled", write.face_id, self.get_person(person_id))

    def delete_face(self, face_id: str) -> None:
        """Remove one face: its row, its embedding and its chip file."""
        with writing(self):
            face = self.get_face(face_id)
            index = index_of(self, face.model_id)
            with transaction(self) as db:
                db.execute("DELETE FROM faces WHERE id=?", (face_id,))
                mark_erase_pending(db, [face.model_id])
                if index is not None:
                    index.delete([face_id])
            if face.chip_path is not None:
                face.chip_path.unlink(missing_ok=True)
            erase_pending(self)

    def delete_person(self, person_id: str) -> None:
        """Remove a person and everything of them: rows, embeddings of every model, chips."""
        with writing(self):
            self.get_person(person_id)
            by_model = face_ids_by_model(self._db, "person_id=?", [person_id])
            with transaction(self) as db:
                db.execute("DELETE FROM people WHERE id=?", (person_id,))  # faces cascade
                mark_erase_pending(db, list(by_model))
                for model_id, ids in by_model.items():
                    index = index_of(self, model_id)
                    if index is not None:
                        index.delete(ids)
            # After COMMIT: a file left behind (say, a permission error) is an orphan that
            # reconcile() removes; the person is gone either way.
            shutil.rmtree(self.chips_dir / person_id, ignore_errors=True)
            erase_pending(self)

    def merge(self, keep_id: str, absorb_id: str) -> Person:
        """Move every face of ``absorb_id`` to ``keep_id`` (rows, Chroma metadata, chip files),
        append its notes, then delete it. All or nothing."""
        if keep_id == absorb_id:
            raise ValueError("cannot merge a person with themselves")
        with writing(self):
            keep, absorb = self.get_person(keep_id), self.get_person(absorb_id)
            by_model = face_ids_by_model(self._db, "person_id=?", [absorb_id])
            moved: list[tuple[Path, Path]] = []
            repointed: list[tuple[EmbeddingIndex, list[str]]] = []
            try:
                with transaction(self) as db:
                    db.execute(
                        "UPDATE faces SET person_id=? WHERE person_id=?", (keep_id, absorb_id)
                    )
                    notes = "\n".join(n for n in (keep.notes, absorb.notes) if n.strip())
                    db.execute("UPDATE people SET notes=? WHERE id=?", (notes, keep_id))
                    db.execute("DELETE FROM people WHERE id=?", (absorb_id,))
                    # Chroma's queue and HNSW files still hold the records under absorb_id.
                    mark_erase_pending(db, list(by_model))
                    for model_id, ids in by_model.items():
                        index = index_of(self, model_id)
                        if index is not None:
                            index.set_person(ids, keep_id)
                            repointed.append((index, ids))
                    if not self.chips_in_database:  # rows need no move: keyed by face
                        (self.chips_dir / keep_id).mkdir(parents=True, exist_ok=True)
                    for ids in by_model.values():
                        for face_id in ids:
                            source = chip_path(self, absorb_id, face_id)
                            target = chip_path(self, keep_id, face_id)
                            if source is not None and target is not None and source.exists():
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
            erase_pending(self)
            return self.get_person(keep_id)

    # -- search (store.search) -------------------------------------------------------------

    def search(
        self,
        embedding: np.ndarray,
        k: int = 5,
        model_id: str | None = None,
        person_id: str | None = None,
    ) -> list[Match]:
        """The ``k`` nearest faces by exact Euclidean distance, nearest first.

        Every distance returned is the engine's own (comparable with the 0.6 threshold);
        ``store.search`` says how the candidates are found. ``person_id`` restricts the search
        to that person's faces (exhaustive: one person has few). ``ModelMismatch`` when
        ``model_id`` is given and differs, or the embedding has the wrong dimension.
        """
        return store.search.search(self, embedding, k, model_id, person_id)

    def nearest_people(
        self, embedding: np.ndarray, k: int = 5, model_id: str | None = None
    ) -> list[Match]:
        """The ``k`` nearest people, each by their nearest face (exact distances).

        The candidate pool grows (×4, up to ``MAX_PEOPLE_POOL`` faces) until it holds ``k``
        different people; people further away than that many faces are not ranked.
        """
        return store.search.nearest_people(self, embedding, k, model_id)

    # -- consistency, export / import ------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make disk, Chroma and the database agree again after a crash; say what was fixed
        (``store.reconcile`` lists what it checks)."""
        return store.reconcile.reconcile(self)

    def copy_to(
        self, database_url: str, progress: store.relocation.ProgressCallback | None = None
    ) -> store.relocation.CopySummary:
        """Copy everything into the empty database at ``database_url`` (PostgreSQL, or
        ``sqlite:///FOLDER/gallery.db``); see ``store.relocation``. This gallery is unchanged."""
        return store.relocation.copy_gallery(self, database_url, progress)

    def export_zip(self, path: Path) -> Path:
        """Write everyone and this model's faces (embeddings and chips included) to a zip; see
        ``store.archive`` for the layout. A folder as ``path`` gets ``gallery-export.zip``."""
        return store.transfer.export_zip(self, path)

    def import_zip(self, path: Path) -> ImportSummary:
        """Add an export's people and faces.

        The whole archive is checked before anything is written (``store.archive``), then the
        faces are enrolled in atomic batches (each face is wholly in or out). Exported people
        are matched to people here by id, then by name (ignoring case); faces already here
        (same image and box) are skipped.
        """
        return store.transfer.import_zip(self, path)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database and the Chroma client; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
            try:
                if self._client is not None:
                    # Closing, Chroma writes its whole buffer again: zero the unused part
                    # after it, with no other process half-way through a write.
                    with self._folder_lock.exclusive():
                        disconnect(self._client)
                        if self.chroma_dir is not None:
                            zero_unused_hnsw_capacity(self.chroma_dir)
            finally:
                if isinstance(self._folder_lock, DatabaseLock):
                    self._folder_lock.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
