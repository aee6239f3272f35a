"""Export a gallery to a zip and import one: the gallery's side of ``store.archive``.

``store.archive`` is the zip format and its safety checks, with no gallery behind it; here the
gallery's people and faces become an archive and an archive's records become faces, enrolled
through the same atomic write as ``Gallery.enroll`` (``store.face_writes``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from store.archive import GalleryArchive, chip_member, decode_chip, read_archive, write_archive
from store.database import IntegrityError
from store.db import (
    FACE_COLUMNS,
    FACE_KEY,
    SCHEMA_VERSION,
    chip_png,
    face_from_row,
    insert_person,
    person_rows,
    stored_embedding,
    transaction,
    writing,
)
from store.errors import InvalidExport
from store.face_writes import (
    FaceWrite,
    find_duplicate,
    png_bytes,
    validate_new_face,
    write_faces,
)
from store.names import clean_name
from store.records import ImportSummary, NewFace, new_id, now

if TYPE_CHECKING:
    from store.gallery import Gallery

log = logging.getLogger(__name__)

IMPORT_BATCH = 256
"""Faces written per transaction by ``import_zip``: one Chroma write costs ~20 ms whatever its
size, so one face at a time would make a 10,000-face import take minutes."""


def export_zip(gallery: Gallery, path: Path) -> Path:
    """Write everyone and the gallery model's faces (embeddings and chips included) to a zip;
    see ``store.archive`` for the layout. A folder as ``path`` gets ``gallery-export.zip``."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / "gallery-export.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gallery._lock:
        gallery._check_open()
        people = [
            {"id": r[0], "name": r[1], "notes": r[2], "created": r[3]}
            for r in gallery._db.execute(
                "SELECT id, name, notes, created FROM people ORDER BY name_key, id"
            )
        ]
        rows = gallery._db.execute(
            f"SELECT embedding, {FACE_KEY}, {FACE_COLUMNS} FROM faces WHERE model_id=? "
            "ORDER BY created, id",
            (gallery.model_id,),
        ).fetchall()
        chips: dict[str, bytes] = {}
        faces, vectors = [], []
        for row in rows:
            face = face_from_row(gallery, row[2:])
            chip = chip_png(gallery, face.id, face.person_id)
            if chip is None:
                log.warning("face %s has no chip: left out of the export", face.id)
                continue
            member = chip_member(face.person_id, face.id)
            chips[member] = chip
            vectors.append(stored_embedding(row[0], row[1], face.id))
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
    embeddings = np.stack(vectors) if vectors else np.zeros((0, gallery.embedding_dim))
    archive = GalleryArchive(
        gallery.model_id, gallery.embedding_dim, SCHEMA_VERSION, people, faces, embeddings, chips
    )
    return write_archive(path, archive)


def import_zip(gallery: Gallery, path: Path) -> ImportSummary:
    """Add an export's people and faces.

    The whole archive is checked before anything is written (``store.archive``), then the
    faces are enrolled in atomic batches of ``IMPORT_BATCH`` (each face is wholly in or
    out). Exported people are matched to people here by id, then by name (ignoring case);
    faces already here (same image and box) are skipped.
    """
    archive = read_archive(Path(path), gallery.model_id, gallery.embedding_dim)
    try:
        names = {p["id"]: clean_name(p["name"]) for p in archive.people}
        incoming = []
        for i, f in enumerate(archive.faces):
            new_face = NewFace(
                embedding=archive.embeddings[i],
                chip=decode_chip(archive.chips[f["chip"]], f["chip"]),
                image_sha256=str(f["image_sha256"]),
                box=tuple(float(v) for v in f["box"]),  # type: ignore[arg-type]
                landmarks=np.asarray(f["landmarks"], dtype=np.float64),
                score=float(f["score"]),
                model_id=gallery.model_id,
            )
            embedding, chip, landmarks = validate_new_face(gallery, new_face)
            incoming.append((f, new_face, embedding, png_bytes(chip), landmarks))
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidExport(f"{path}: a record is invalid ({exc})") from exc

    details = {
        p["id"]: (str(p.get("notes", "")), str(p.get("created") or now())) for p in archive.people
    }
    local_id: dict[str, str] = {}
    created = matched = imported = skipped = 0
    with gallery._lock:
        gallery._check_open()
        for exported_id, name in names.items():
            found = person_rows(gallery, "p.id = ?", [exported_id]) or [gallery.find_person(name)]
            if found[0] is not None:
                local_id[exported_id] = found[0].id
                matched += 1
    for start in range(0, len(incoming), IMPORT_BATCH):
        with writing(gallery):  # per batch: others' searches and writes are not held long
            batch: list[FaceWrite] = []
            for f, new_face, embedding, png, landmarks in incoming[start : start + IMPORT_BATCH]:
                if find_duplicate(gallery, new_face, batch) is not None:
                    skipped += 1
                    continue
                exported = f["person_id"]
                new_person = None
                if exported not in local_id:
                    new_person = (names[exported], *details[exported])
                    local_id[exported] = exported
                    created += 1
                taken = gallery._db.execute("SELECT 1 FROM faces WHERE id=?", (f["id"],))
                batch.append(
                    FaceWrite(
                        gallery.chips_dir,
                        new_id() if taken.fetchone() else f["id"],
                        local_id[exported],
                        new_person,
                        str(f.get("created") or now()),
                        new_face,
                        embedding,
                        png,
                        landmarks,
                    )
                )
            if batch:
                try:
                    write_faces(gallery, batch)
                except BaseException:
                    for w in batch:  # those people were not created after all
                        if w.new_person is not None:
                            local_id.pop(w.person_id, None)
                    raise
            imported += len(batch)
    with writing(gallery):  # people with no face of this model in the export
        for exported_id, name in names.items():
            if exported_id in local_id:
                continue
            try:
                with transaction(gallery) as db:
                    insert_person(db, exported_id, name, *details[exported_id])
                created += 1
            except IntegrityError:  # someone took the name meanwhile
                matched += 1
    return ImportSummary(created, matched, imported, skipped, gallery.model_id)
