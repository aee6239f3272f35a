"""A damaged gallery folder: the message says how to recover, and that recovery works.

End to end as a user would do it: an export while the gallery is healthy, the database is
damaged, the next open fails with one line naming the recovery, the folder is moved aside,
``cli.py import`` (a real subprocess) fills the fresh gallery, and everything is back: people
(ids, names, notes), faces (ids, embeddings bit for bit, chip files byte for byte) and search.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from store import CorruptStore, Gallery
from tests.store.conftest import FaceMaker, assert_consistent

ROOT = Path(__file__).resolve().parents[2]


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=data.parent,
        env={**os.environ, "VISIONLAB_DATA": str(data)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _snapshot(gallery: Gallery) -> dict:
    """Everything an export must bring back, keyed by ids."""
    return {
        "people": sorted((p.id, p.name, p.notes, p.face_count) for p in gallery.people()),
        "faces": {
            f.id: (
                f.person_id,
                f.image_sha256,
                f.box,
                f.chip_path.read_bytes(),
                gallery.person_embeddings(p.id)[i].tobytes(),
            )
            for p in gallery.people()
            for i, f in enumerate(gallery.faces_of(p.id))
        },
    }


def _fill(gallery: Gallery, maker: FaceMaker) -> None:
    for name, photos in (("Ada Lovelace", 3), ("Grace Hopper", 2), ("Alan Turing", 1)):
        for _ in range(photos):
            gallery.enroll(name, maker.face(name))
    gallery.set_notes(gallery.find_person("Grace Hopper").id, "COBOL")
    gallery.add_person("Nobody Yet")  # a person without faces comes back too


def _damage_database(folder: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{folder / 'gallery.db'}{suffix}").unlink(missing_ok=True)
    (folder / "gallery.db").write_bytes(np.random.default_rng(0).bytes(8192))


def test_corrupt_database_recovered_from_an_export_with_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "gallery"
    maker = FaceMaker(seed=5)
    with Gallery(folder) as gallery:
        _fill(gallery, maker)
        before = _snapshot(gallery)
        export = gallery.export_zip(tmp_path / "backup.zip")  # what `cli.py export` calls

    _damage_database(folder)
    with pytest.raises(CorruptStore) as refused:  # what the app and every cli.py command hit
        Gallery(folder)
    message = str(refused.value)
    assert message.startswith("the gallery database") and "is unreadable" in message
    assert "\n" not in message  # the CLI prints it as one line: "error: <message>"
    assert f"move the folder {folder} aside" in message
    assert "python cli.py import EXPORT.zip" in message

    folder.rename(data / "gallery.damaged")  # the recovery the message gives, step by step
    imported = _cli(data, "import", str(export))
    assert imported.returncode == 0, imported.stderr
    assert "imported 6 face(s)" in imported.stdout

    with Gallery(folder) as restored:
        assert _snapshot(restored) == before
        assert_consistent(restored)
        ada = restored.find_person("Ada Lovelace")
        assert restored.search(maker.embedding("Ada Lovelace"), k=1)[0].person.id == ada.id
    assert (data / "gallery.damaged" / "gallery.db").exists()  # the damaged copy is kept


def test_deleted_database_recovered_from_an_export_with_the_store_api(tmp_path: Path) -> None:
    folder = tmp_path / "gallery"
    with Gallery(folder) as gallery:
        _fill(gallery, FaceMaker(seed=6))
        before = _snapshot(gallery)
        export = gallery.export_zip(tmp_path / "backup.zip")
    for suffix in ("", "-wal", "-shm"):  # the chips are still there: refused, not started anew
        Path(f"{folder / 'gallery.db'}{suffix}").unlink(missing_ok=True)

    with pytest.raises(CorruptStore) as refused:
        Gallery(folder)
    assert f"move the folder {folder} aside" in str(refused.value)
    assert "python cli.py import EXPORT.zip" in str(refused.value)

    folder.rename(tmp_path / "gallery.damaged")
    with Gallery(folder) as fresh:
        summary = fresh.import_zip(export)
        assert (summary.faces_imported, summary.people_created) == (6, 4)
        assert _snapshot(fresh) == before
        assert_consistent(fresh)
