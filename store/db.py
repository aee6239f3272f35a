"""The gallery's plumbing: opening gallery.db, the transactions and locks every operation runs
under, this process's view of Chroma, and rows turned into records.

``Gallery`` (``store.gallery``) says what the gallery does; the functions here take it and keep
its connection, its locks and its Chroma client consistent across threads and processes (the
commit protocol is in ``store.gallery``'s docstring). They are apart so that a reader of an
operation sees the operation, and a reader of the locking sees only the locking.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from store.database import Database, DBAPIError, driver_error
from store.erasure import (
    purge_chroma_folder,
    secure_connection,
    zero_unused_hnsw_capacity,
)
from store.errors import CorruptStore, GalleryError, ModelMismatch
from store.faults import fault_of, storage_faults
from store.index import EmbeddingIndex, collection_name, connect, disconnect
from store.migrate import NewerSchema, upgrade_schema
from store.names import name_key
from store.records import Person, StoredFace, new_id, now
from store.sealing import unseal

if TYPE_CHECKING:
    from store.gallery import Gallery

SCHEMA_VERSION = 1

RECOVER_FROM_EXPORT = (
    "start again from your latest export: stop the app and any cli.py job, move the folder "
    "{folder} aside (rename it; keep it until the gallery is back), then import a gallery "
    "export into the fresh gallery that opens in its place: `python cli.py import "
    "EXPORT.zip` (or Gallery.import_zip)."
)
"""The recovery every damaged-store message names; ``cli.py export`` makes the export."""


FACE_COLUMNS = (
    "id, person_id, model_id, image_sha256, box_left, box_top, box_right, box_bottom, "
    "landmarks, score, created"
)
"""The columns ``face_from_row`` reads, in its order (the embedding is selected apart)."""

FACE_KEY = "(SELECT key FROM face_keys WHERE face_keys.face_id = faces.id)"
"""Selected beside ``faces.embedding``: the face's key on a database server, else NULL."""


def stored_embedding(blob: bytes, key: bytes | None, face_id: str) -> np.ndarray:
    """A ``faces.embedding`` value as float32: in clear (SQLite), or sealed with the face's key
    (a database server, ``store.sealing``)."""
    data = bytes(blob) if key is None else unseal(key, blob, face_id)
    return np.frombuffer(data, dtype="<f4")


# -- opening ---------------------------------------------------------------------------------


def refuse_data_without_database(gallery: Gallery) -> None:
    """A missing gallery.db beside existing chips or a Chroma folder is a lost database, not
    a fresh gallery: starting over would make reconcile delete every chip as an orphan."""
    if gallery.db_path is None or gallery.db_path.exists():
        return  # a database server: nothing on this disk says what it holds
    chips_dir, chroma_dir = gallery.chips_dir, gallery.chroma_dir
    has_chips = chips_dir.is_dir() and any(p.is_file() for p in chips_dir.rglob("*"))
    has_index = chroma_dir is not None and (chroma_dir / "chroma.sqlite3").exists()
    if has_chips or has_index:
        raise CorruptStore(
            f"{gallery.db_path} is missing but {gallery.data_dir} still holds "
            f"{'chips' if has_chips else 'a Chroma index'}. Restore gallery.db from a "
            f"backup, or {RECOVER_FROM_EXPORT.format(folder=gallery.data_dir)}"
        )


def open_database(gallery: Gallery) -> Database:
    """gallery.db with its pragmas and tables (``store.schema``); ``CorruptStore`` when it
    cannot be one."""
    url = gallery.database_url
    try:
        upgrade_schema(url)
        db = Database(url)
    except NewerSchema as exc:
        raise _newer(gallery, f"schema revision {exc}") from exc
    except DBAPIError as exc:
        raise _corrupt_db(gallery, exc) from exc
    try:
        if db.dialect == "sqlite":
            secure_connection(db)  # before any write: deleted names and embeddings are zeroed
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        elif int(row[0]) > SCHEMA_VERSION:
            db.close()
            raise _newer(gallery, f"schema version {row[0]}")
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '0') ON CONFLICT (key) DO NOTHING"
        )
    except DBAPIError as exc:
        db.close()
        raise _corrupt_db(gallery, exc) from exc
    return db


def _newer(gallery: Gallery, what: str) -> CorruptStore:
    return CorruptStore(
        f"{gallery.database_label} has {what}, newer than this program understands: update "
        "Vision Lab."
    )


def _corrupt_db(gallery: Gallery, exc: Exception) -> GalleryError:
    """What a database that fails to open is: busy, on a full or broken disk (a
    ``StoreFault``), else damaged."""
    fault = fault_of(exc)
    if fault is not None:
        return fault
    return CorruptStore(
        f"the gallery database {gallery.database_label} is unreadable ({driver_error(exc)}). "
        "Restore it "
        f"from a backup, or {RECOVER_FROM_EXPORT.format(folder=gallery.data_dir)}"
    )


def register_model(gallery: Gallery) -> str:
    """Record the gallery's model and its collection (refusing a changed dimension); return the
    gallery id."""
    model_id, embedding_dim = gallery.model_id, gallery.embedding_dim
    with transaction(gallery) as db:
        row = db.execute("SELECT value FROM meta WHERE key='gallery_id'").fetchone()
        if row is None:
            gallery_id = new_id()
            db.execute("INSERT INTO meta(key, value) VALUES ('gallery_id', ?)", (gallery_id,))
        else:
            gallery_id = row[0]
        found = db.execute(
            "SELECT embedding_dim FROM collections WHERE model_id=?", (model_id,)
        ).fetchone()
        if found is None:
            db.execute(
                "INSERT INTO collections(model_id, name, embedding_dim, created) "
                "VALUES (?, ?, ?, ?)",
                (model_id, collection_name(model_id), embedding_dim, now()),
            )
        elif int(found[0]) != embedding_dim:
            raise ModelMismatch(
                f"model {model_id!r} is stored here with {found[0]}-d embeddings, "
                f"not {embedding_dim}-d"
            )
    return gallery_id


def claim_embedded_index(gallery: Gallery) -> None:
    """A database server with an embedded Chroma: only this folder's Chroma may serve it.

    Several instances sharing one database must share one Chroma server too: an embedded
    Chroma in each instance's folder would hold only the faces enrolled there, and searches
    would silently miss the others'. The first folder to open the database claims it; any
    other is refused with what to do."""
    if gallery.db_path is not None or gallery.chroma_dir is None:
        return
    here = f"{socket.gethostname()}:{gallery.chroma_dir.resolve()}"
    with transaction(gallery) as db:
        row = db.execute("SELECT value FROM meta WHERE key='embedded_chroma'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta(key, value) VALUES ('embedded_chroma', ?)", (here,))
            return
    if row[0] != here:
        raise GalleryError(
            f"{gallery.database_label} is used by another instance that keeps its vectors in "
            "its own folder (an embedded Chroma). Instances that share a database must share "
            "a Chroma server too: set CHROMA_HOST (and CHROMA_PORT) on every instance. If that "
            "other instance is gone for good, remove its claim with the SQL `DELETE FROM meta "
            "WHERE key = 'embedded_chroma'` and open the gallery here again."
        )


def index_of(gallery: Gallery, model_id: str, create: bool = False) -> EmbeddingIndex | None:
    """The Chroma collection of ``model_id``; None when it was never created."""
    if model_id in gallery._indexes:
        return gallery._indexes[model_id]
    row = gallery._db.execute(
        "SELECT embedding_dim FROM collections WHERE model_id=?", (model_id,)
    ).fetchone()
    if row is None:
        return None
    try:
        index = EmbeddingIndex(
            gallery._client, model_id, int(row[0]), gallery.gallery_id, gallery.location, create
        )
    except KeyError:
        return None
    gallery._indexes[model_id] = index
    return index


# -- transactions and locks ------------------------------------------------------------------


@contextmanager
def transaction(gallery: Gallery) -> Iterator[Database]:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception (the connection is autocommit).

    Every committed transaction bumps ``meta.generation``, which tells other processes that
    their Chroma view is out of date (``sync_index``)."""
    gallery._db.execute(gallery._db.begin_write)
    try:
        before = generation(gallery)
        yield gallery._db
        gallery._db.execute(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "WHERE key='generation'"
        )
        gallery._db.execute("COMMIT")
    except BaseException:
        if gallery._db.in_transaction:  # also when COMMIT itself failed
            gallery._db.execute("ROLLBACK")
        raise
    if before == gallery._seen_generation:  # our view was current and now holds our write
        gallery._seen_generation = before + 1


@contextmanager
def writing(gallery: Gallery) -> Iterator[None]:
    """Around every write: this process's threads (the re-entrant lock), other processes
    (the folder lock, exclusive) and a Chroma view that includes their writes. A full
    disk or a locked database, met once the write is undone, leaves as a ``StoreFault``."""
    with gallery._lock:
        gallery._check_open()
        with storage_faults(), gallery._folder_lock.exclusive():
            sync_index(gallery)
            yield


@contextmanager
def reading(gallery: Gallery) -> Iterator[None]:
    """Around a Chroma query: the folder lock, shared, so that no other process drops and
    rebuilds the collection (an erasure) between our view check and the query."""
    with gallery._lock:
        gallery._check_open()
        with gallery._folder_lock.shared():
            sync_index(gallery)
            yield


def generation(gallery: Gallery) -> int:
    """``meta.generation``: how many transactions gallery.db has committed."""
    row = gallery._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
    return int(row[0]) if row else 0


# -- this process's Chroma view --------------------------------------------------------------


def sync_index(gallery: Gallery) -> None:
    """Reload the embedded Chroma index when another process has written since we last
    looked. Measured with Chroma 1.5: an embedded client never sees another process's
    adds in ``query`` (its HNSW lives in memory) though it sees them in ``count``/``get``;
    a client opened afresh sees everything. A Chroma server (``CHROMA_HOST``) has one
    index for everyone, but another instance's erasure drops and recreates a collection, so
    our handles to it are fetched again. Caller holds ``gallery._lock``."""
    if generation(gallery) == gallery._seen_generation:
        return
    with gallery._folder_lock.shared():  # no writer half-way through the files we load
        current = generation(gallery)
        if gallery._host:
            refetch_collections(gallery)
        else:
            reconnect(gallery)
        gallery._seen_generation = current


def refetch_collections(gallery: Gallery) -> None:
    """Forget this instance's collection handles and fetch the model's again from the Chroma
    server (a handle names the collection by id, which a rebuild changes)."""
    gallery._indexes.clear()
    index = index_of(gallery, gallery.model_id, create=True)
    assert index is not None
    gallery._index = index


def reconnect(gallery: Gallery, between: Callable[[], object] | None = None) -> None:
    """Close the embedded Chroma client (it finishes writing its files), run ``between``
    while no client has the folder open, and open a new client that loads the index from
    disk. Caller holds ``gallery._lock``."""
    disconnect(gallery._client)
    gallery._client = None
    gallery._indexes.clear()
    if between is not None:
        between()
    gallery._client = connect(gallery.chroma_dir, None, gallery._port)
    index = index_of(gallery, gallery.model_id, create=True)
    assert index is not None
    gallery._index = index
    zero_unused_capacity(gallery)


def zero_unused_capacity(gallery: Gallery) -> None:
    """Chroma rewrites each loaded segment's ``data_level0.bin`` when a client opens it, its
    unused capacity filled with memory it never initialised (``store.erasure``): zero that
    part again. Caller holds the folder lock; Chroma writes again only while adding (under
    the exclusive lock) and when the client closes (``close`` zeroes after it)."""
    if gallery.chroma_dir is None:
        return
    index = gallery._index
    if index.count():  # load the segment now: Chroma writes it while loading
        index.candidates(np.zeros(index.embedding_dim, np.float32), 1)
    zero_unused_hnsw_capacity(gallery.chroma_dir)


# -- erasure after a deletion (see store.erasure) --------------------------------------------


def mark_erase_pending(db: Database, model_ids: Sequence[str]) -> None:
    """Inside the deleting transaction: these models' collections must be rebuilt."""
    row = db.execute("SELECT value FROM meta WHERE key='erase_pending'").fetchone()
    pending = set(json.loads(row[0])) if row else set()
    pending.update(model_ids)  # none (a person without faces): gallery.db only
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('erase_pending', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (json.dumps(sorted(pending)),),
    )


def erase_pending(gallery: Gallery) -> None:
    """Rebuild the collections a deletion touched, purge the Chroma folder, then clear the
    mark and cut gallery.db's log. Caller holds ``writing``. Its COMMIT bumps the
    generation, so other processes reload the rebuilt collections."""
    row = gallery._db.execute("SELECT value FROM meta WHERE key='erase_pending'").fetchone()
    if row is None:
        return
    for model_id in json.loads(row[0]):
        _rebuild_index(gallery, model_id)
    if gallery.chroma_dir is not None:
        chroma_dir = gallery.chroma_dir
        reconnect(gallery, between=lambda: purge_chroma_folder(chroma_dir))
    else:
        refetch_collections(gallery)
    with transaction(gallery) as db:
        db.execute("DELETE FROM meta WHERE key='erase_pending'")
    gallery._db.erase_old_versions()


def _rebuild_index(gallery: Gallery, model_id: str) -> None:
    """Drop ``model_id``'s collection and add every embedding gallery.db holds for it: HNSW
    only marks a deleted vector deleted, and Chroma cannot compact (``store.erasure``)."""
    row = gallery._db.execute(
        "SELECT embedding_dim FROM collections WHERE model_id=?", (model_id,)
    ).fetchone()
    if row is None:
        return
    old = index_of(gallery, model_id)
    if old is not None:
        old.drop()
    gallery._indexes.pop(model_id, None)
    index = index_of(gallery, model_id, create=True)
    assert index is not None
    rows = gallery._db.execute(
        f"SELECT id, person_id, embedding, {FACE_KEY} FROM faces WHERE model_id=? ORDER BY id",
        (model_id,),
    )
    while batch := rows.fetchmany(index.batch_size):
        vectors = np.stack([stored_embedding(r[2], r[3], r[0]) for r in batch])
        index.add([r[0] for r in batch], vectors, [r[1] for r in batch])
    if model_id == gallery.model_id:
        gallery._index = index


# -- rows and records ------------------------------------------------------------------------


def chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """Slices small enough for an SQL ``IN (?, …)`` list."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def chip_path(gallery: Gallery, person_id: str, face_id: str) -> Path | None:
    """The chip's file; None when chips are rows of a database server (``chip_png``)."""
    if gallery.chips_in_database:
        return None
    return gallery.chips_dir / person_id / f"{face_id}.png"


def chip_png(gallery: Gallery, face_id: str, person_id: str) -> bytes | None:
    """The stored chip's PNG, from its file or its row; None when it is missing."""
    if not gallery.chips_in_database:
        path = chip_path(gallery, person_id, face_id)
        try:
            return path.read_bytes() if path is not None else None
        except FileNotFoundError:
            return None
    row = gallery._db.execute(
        f"SELECT c.png, {FACE_KEY} FROM chips c JOIN faces ON faces.id = c.face_id "
        "WHERE c.face_id=?",
        (face_id,),
    ).fetchone()
    if row is None or row[1] is None:
        return None
    return unseal(row[1], row[0], face_id)


def person_rows(
    gallery: Gallery, where: str, params: Sequence[Any], order: str = ""
) -> list[Person]:
    """The people ``where`` selects (``p`` is the people table), with their face counts."""
    rows = gallery._db.execute(
        "SELECT p.id, p.name, p.created, p.notes, "
        "(SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id AND f.model_id = ?) "
        f"FROM people p WHERE {where} {order}",
        (gallery.model_id, *params),
    ).fetchall()
    return [Person(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def people_by_id(gallery: Gallery, ids: set[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for chunk in chunks(sorted(ids)):
        marks = ",".join("?" * len(chunk))
        found.update((p.id, p) for p in person_rows(gallery, f"p.id IN ({marks})", chunk))
    return found


def face_from_row(gallery: Gallery, r: Sequence[Any]) -> StoredFace:
    """A ``SELECT {FACE_COLUMNS}`` row as a record."""
    return StoredFace(
        id=r[0],
        person_id=r[1],
        chip_path=chip_path(gallery, r[1], r[0]),
        image_sha256=r[3],
        box=(r[4], r[5], r[6], r[7]),
        landmarks=json.loads(r[8]),
        score=float(r[9]),
        created=r[10],
        model_id=r[2],
    )


def face_ids_by_model(db: Database, where: str, params: Sequence[Any]) -> dict[str, list[str]]:
    by_model: dict[str, list[str]] = {}
    for face_id, model_id in db.execute(
        f"SELECT id, model_id FROM faces WHERE {where}", tuple(params)
    ):
        by_model.setdefault(model_id, []).append(face_id)
    return by_model


def insert_person(db: Database, person_id: str, name: str, notes: str, created: str) -> None:
    """Inside a transaction; ``IntegrityError`` (``store.database``) when the name's key is
    taken."""
    db.execute(
        "INSERT INTO people(id, name, name_key, notes, created) VALUES (?, ?, ?, ?, ?)",
        (person_id, name, name_key(name), str(notes), created),
    )
