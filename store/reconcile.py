"""Consistency after a crash: make the chip files, Chroma and gallery.db agree again.

gallery.db is the source of truth (``store.gallery``'s docstring has the commit order), so a
crash leaves at most chips or Chroma records without a row, never a row without its embedding
for good. ``reconcile`` runs on every open; it is apart from the operations because it is the
one place that reads the whole store and fixes it from the database.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import numpy as np

from store.db import (
    FACE_KEY,
    chip_path,
    chunks,
    erase_pending,
    stored_embedding,
    transaction,
    writing,
)
from store.face_writes import TMP_PREFIX
from store.records import ReconcileReport

if TYPE_CHECKING:
    from store.gallery import Gallery


def reconcile(gallery: Gallery) -> ReconcileReport:
    """Make disk, Chroma and the database agree again after a crash; say what was fixed.

    - chip files (and temporary chips) without a face row → deleted;
    - Chroma records of this model without a face row → deleted;
    - face rows whose embedding Chroma lacks → re-added from the database copy;
    - Chroma records pointing at the wrong person (a merge cut short) → re-pointed;
    - face rows without a chip file → reported only.
    Other models' collections are reconciled when a gallery of that model is opened.
    """
    report = ReconcileReport()
    with writing(gallery):
        # A deletion cut short by a crash is finished first, before the old collection is
        # read: the rebuild then starts from gallery.db alone.
        erase_pending(gallery)
        db = gallery._db
        owners = dict(db.execute("SELECT id, person_id FROM faces").fetchall())
        people = {r[0] for r in db.execute("SELECT id FROM people")}
        if not gallery.chips_in_database:  # rows go with their face (ON DELETE CASCADE)
            _remove_orphan_chips(gallery, owners, people, report)
        mine = dict(
            db.execute(
                "SELECT id, person_id FROM faces WHERE model_id=?", (gallery.model_id,)
            ).fetchall()
        )
        index = gallery._index
        records = index.all_records()
        orphans = sorted(set(records) - set(mine))
        if orphans:
            index.delete(orphans)
            report.orphan_embeddings_removed.extend(orphans)
        missing = sorted(set(mine) - set(records))
        for chunk in chunks(missing):
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT id, person_id, embedding, {FACE_KEY} FROM faces WHERE id IN ({marks})",
                tuple(chunk),
            ).fetchall()
            vectors = np.stack([stored_embedding(r[2], r[3], r[0]) for r in rows])
            index.add([r[0] for r in rows], vectors, [r[1] for r in rows])
            report.embeddings_restored.extend(r[0] for r in rows)
        wrong: dict[str, list[str]] = {}
        for face_id, person_id in mine.items():
            if face_id in records and records[face_id] != person_id:
                wrong.setdefault(person_id, []).append(face_id)
        for person_id, ids in wrong.items():
            index.set_person(ids, person_id)
            report.embeddings_repointed.extend(ids)
        report.faces_without_chip.extend(_faces_without_chip(gallery, owners))
        if report.changed:
            with transaction(gallery):  # Chroma changed: other processes must reload it
                pass
    return report


def _faces_without_chip(gallery: Gallery, owners: dict[str, str]) -> list[str]:
    if gallery.chips_in_database:
        return [
            r[0]
            for r in gallery._db.execute(
                "SELECT id FROM faces WHERE id NOT IN (SELECT face_id FROM chips) ORDER BY id"
            )
        ]
    return [
        face_id
        for face_id, person_id in owners.items()
        if not chip_path(gallery, person_id, face_id).is_file()  # type: ignore[union-attr]
    ]


def _remove_orphan_chips(
    gallery: Gallery, owners: dict[str, str], people: set[str], report: ReconcileReport
) -> None:
    """Every file under chips/ that is not ``<person>/<face>.png`` of a face row goes."""
    chips_dir = gallery.chips_dir
    if not chips_dir.is_dir():
        return
    for folder in sorted(chips_dir.iterdir()):
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
                and not path.name.startswith(TMP_PREFIX)
                and owners.get(face_id) == folder.name
            ):
                continue
            path.unlink(missing_ok=True)
            report.orphan_chips_removed.append(str(path))
        if folder.name not in people and not any(folder.iterdir()):
            folder.rmdir()
