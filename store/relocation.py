"""Copy a gallery into another database: ``cli.py migrate --to URL``.

Every person (id, name, notes, created), every model's collection record and every face (its
record, its embedding copy bit for bit, its chip PNG byte for byte, every model's faces) go
into an empty database of either kind, in one transaction: a copy that fails leaves the target
as empty as it was. Into PostgreSQL each face's embedding copy and chip are sealed with a new
key of its own (``store.sealing``); into SQLite they go in clear, the chips as files in the
``chips/`` folder beside the target's ``gallery.db`` (a SQLite gallery is that folder).

The search index is not copied: it is made from the embedding copies, which the gallery's
repair does when the target first opens (``cli.py migrate`` opens it at the end). The gallery
ID is copied too, so a Chroma server both sides use keeps serving the same collection. The
source is left as it was.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.database import Database, DBAPIError, database_url, driver_error, shown
from store.db import FACE_COLUMNS, FACE_KEY, chip_png, reading
from store.errors import GalleryError
from store.migrate import upgrade_schema
from store.sealing import new_key, seal, unseal

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from store.gallery import Gallery

COPY_BATCH = 500
"""Faces read, sealed and written at a time."""

SQLITE_FILE_NAME = "gallery.db"

ProgressCallback = Callable[[int, int], None]
"""(faces copied, faces in all)."""


@dataclass(frozen=True)
class CopySummary:
    target: str
    """The target database, as messages show it (no password)."""
    people: int
    faces: int
    chips: int
    """Faces copied with their chip (a face whose chip was missing is copied without)."""
    seconds: float


def target_folder(url: URL) -> Path | None:
    """The folder of a SQLite target (its ``gallery.db`` and ``chips/``); None for a server."""
    if url.get_backend_name() != "sqlite":
        return None
    path = Path(url.database or "")
    if path.name != SQLITE_FILE_NAME:
        raise GalleryError(
            f"a SQLite gallery is a folder holding {SQLITE_FILE_NAME} and chips/: give the "
            f"target as sqlite:///FOLDER/{SQLITE_FILE_NAME}, not {shown(url)}"
        )
    return path.parent


def copy_gallery(
    source: Gallery, to_url: str, progress: ProgressCallback | None = None
) -> CopySummary:
    """Copy ``source`` into the empty database at ``to_url`` (see the module docstring)."""
    began = time.monotonic()
    url = database_url(to_url)
    folder = target_folder(url)
    if url == source.database_url:
        raise GalleryError(f"the gallery is already in {shown(url)}: nothing to copy")
    if folder is not None:
        _refuse_chips_in(folder)
        folder.mkdir(parents=True, exist_ok=True)
    with _opened(url) as target:
        _refuse_unless_empty(target, url)
        with reading(source):
            counts = _copy_rows(source, target, folder, progress)
    return CopySummary(shown(url), *counts, seconds=time.monotonic() - began)


@contextmanager
def _opened(url: URL) -> Iterator[Database]:
    try:
        upgrade_schema(url)
        target = Database(url)
    except DBAPIError as exc:
        raise GalleryError(f"cannot open {shown(url)}: {driver_error(exc)}") from None
    try:
        if target.dialect == "sqlite":
            target.execute("PRAGMA foreign_keys=ON")
        yield target
    finally:
        target.close()


def _refuse_chips_in(folder: Path) -> None:
    chips = folder / "chips"
    if chips.is_dir() and any(chips.iterdir()):
        raise GalleryError(f"{chips} already holds chips: copy into an empty folder")


def _refuse_unless_empty(target: Database, url: URL) -> None:
    for table in ("people", "faces"):
        if target.execute(f"SELECT COUNT(*) FROM {table}").scalar_one():
            raise GalleryError(
                f"{shown(url)} already holds a gallery ({table} are stored there): copy into "
                "an empty database, so that nothing of either is mixed or lost"
            )


def _copy_rows(
    source: Gallery, target: Database, folder: Path | None, progress: ProgressCallback | None
) -> tuple[int, int, int]:
    """Everything in one transaction of the target; chip files written before its COMMIT are
    removed again when it fails."""
    db = source._db
    people = db.execute("SELECT id, name, name_key, notes, created FROM people").fetchall()
    models = db.execute("SELECT model_id, name, embedding_dim, created FROM collections")
    gallery_id = db.execute("SELECT value FROM meta WHERE key='gallery_id'").fetchone()
    total = int(db.execute("SELECT COUNT(*) FROM faces").scalar_one())
    copied = with_chip = 0
    target.execute(target.begin_write)
    try:
        for row in people:
            target.execute(
                "INSERT INTO people(id, name, name_key, notes, created) VALUES (?, ?, ?, ?, ?)",
                tuple(row),
            )
        for row in models.fetchall():
            target.execute(
                "INSERT INTO collections(model_id, name, embedding_dim, created) "
                "VALUES (?, ?, ?, ?)",
                tuple(row),
            )
        if gallery_id is not None:
            target.execute(
                "INSERT INTO meta(key, value) VALUES ('gallery_id', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (gallery_id[0],),
            )
        faces = db.execute(f"SELECT embedding, {FACE_KEY}, {FACE_COLUMNS} FROM faces ORDER BY id")
        while batch := faces.fetchmany(COPY_BATCH):
            for row in batch:
                with_chip += _copy_face(source, target, folder, row)
            copied += len(batch)
            if progress is not None:
                progress(copied, total)
        target.execute("COMMIT")
    except BaseException:
        if target.in_transaction:
            target.execute("ROLLBACK")
        if folder is not None:
            shutil.rmtree(folder / "chips", ignore_errors=True)
        raise
    return len(people), copied, with_chip


def _copy_face(source: Gallery, target: Database, folder: Path | None, row: Any) -> int:
    """One face into ``target``; 1 when its chip came along, 0 when it had none."""
    blob, key, fields = row[0], row[1], tuple(row[2:])
    face_id, person_id = fields[0], fields[1]
    embedding = bytes(blob) if key is None else unseal(key, blob, face_id)
    png = chip_png(source, face_id, person_id)
    marks = ", ".join("?" * (1 + len(fields)))
    insert_face = f"INSERT INTO faces(embedding, {FACE_COLUMNS}) VALUES ({marks})"
    if folder is None:  # a database server: sealed, with a new key
        new = new_key()
        target.execute(insert_face, (seal(new, embedding, face_id), *fields))
        target.execute("INSERT INTO face_keys(face_id, key) VALUES (?, ?)", (face_id, new))
        if png is not None:
            target.execute(
                "INSERT INTO chips(face_id, png) VALUES (?, ?)", (face_id, seal(new, png, face_id))
            )
    else:
        target.execute(insert_face, (embedding, *fields))
        if png is not None:
            path = folder / "chips" / person_id / f"{face_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
    return int(png is not None)
