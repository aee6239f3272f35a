"""All-or-nothing writes, crash recovery, damaged stores and concurrent use.

Each test checks the three places a face lives — gallery.db, the Chroma collection and the chip
files on disk — independently of the gallery's own bookkeeping.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import store.gallery
from store import (
    CorruptStore,
    Gallery,
    GalleryError,
    StorageFull,
    StoreUnavailable,
    StoreWriteFailed,
)
from tests.store.conftest import (
    FaceMaker,
    assert_consistent,
    chip_files,
    chroma_ids,
    db_face_ids,
)

ROOT = Path(__file__).resolve().parents[2]


class Boom(RuntimeError):
    pass


def _assert_untouched_by_failed_enrol(gallery: Gallery, kept: set[str]) -> None:
    assert db_face_ids(gallery) == kept
    assert chroma_ids(gallery) == kept
    assert {p.stem for p in chip_files(gallery)} == kept  # no temp chip, no orphan
    assert gallery.find_person("Grace") is None  # the person created with it is gone too
    assert_consistent(gallery, kept)


def test_failure_in_chroma_add_leaves_nothing(
    gallery: Gallery, faces: FaceMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = {gallery.enroll("Ada", faces.face("ada")).face_id}

    def fail(*args: object, **kwargs: object) -> None:
        raise Boom("Chroma is down")

    monkeypatch.setattr(gallery._index, "add", fail)
    with pytest.raises(Boom):
        gallery.enroll("Grace", faces.face("grace"))
    with pytest.raises(Boom):
        gallery.enroll("Ada", faces.face("ada"))
    _assert_untouched_by_failed_enrol(gallery, kept)


def test_failure_moving_the_chip_undoes_the_embedding(
    gallery: Gallery, faces: FaceMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = {gallery.enroll("Ada", faces.face("ada")).face_id}
    real_replace = os.replace
    chips = str(gallery.chips_dir)

    def replace(src: str | Path, dst: str | Path) -> None:
        if str(dst).startswith(chips):  # after the row and the Chroma add, before COMMIT
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(store.gallery.os, "replace", replace)
    with pytest.raises(StorageFull, match="is full"):  # a sentence, not errno text
        gallery.enroll("Grace", faces.face("grace"))
    monkeypatch.undo()
    _assert_untouched_by_failed_enrol(gallery, kept)


class _FailingCommit:
    """The gallery's SQLite connection, except that COMMIT fails (disk full at the last step)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_failure_at_commit_leaves_nothing(gallery: Gallery, faces: FaceMaker) -> None:
    kept = {gallery.enroll("Ada", faces.face("ada")).face_id}
    real_db = gallery._db
    gallery._db = _FailingCommit(real_db)  # type: ignore[assignment]
    try:
        with pytest.raises(StorageFull, match="is full") as caught:
            gallery.enroll("Grace", faces.face("grace"))
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert not real_db.in_transaction
    finally:
        gallery._db = real_db
    _assert_untouched_by_failed_enrol(gallery, kept)


def test_failed_merge_is_undone(
    gallery: Gallery, faces: FaceMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = gallery.enroll("Ada", faces.face("ada")).person
    absorb = gallery.add_person("Ada L.")
    moved = {gallery.enroll(absorb, faces.face("ada")).face_id for _ in range(3)}
    real_replace = os.replace
    calls = []

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append(dst)
        if len(calls) == 2:  # one chip moved, then the disk fails
            raise OSError(5, "I/O error")
        real_replace(src, dst)

    monkeypatch.setattr(store.gallery.os, "replace", replace)
    with pytest.raises(StoreWriteFailed):  # the disk's I/O error, as a sentence
        gallery.merge(keep.id, absorb.id)
    monkeypatch.undo()
    assert gallery.get_person(absorb.id).face_count == 3
    assert {f.id for f in gallery.faces_of(absorb.id)} == moved
    assert all(f.chip_path.is_file() for f in gallery.faces_of(absorb.id))
    records = gallery._index.collection.get(ids=sorted(moved), include=["metadatas"])
    assert {m["person_id"] for m in records["metadatas"]} == {absorb.id}
    assert_consistent(gallery)


def test_reconcile_repairs_orphans_and_lost_embeddings(
    open_gallery, faces: FaceMaker, tmp_path: Path
) -> None:
    gallery = open_gallery(tmp_path / "g")
    ada = gallery.enroll("Ada", faces.face("ada"))
    grace = gallery.enroll("Grace", faces.face("grace"))
    # What a crash or a lost index leaves behind:
    stray = gallery.chips_dir / ("e" * 32) / f"{'f' * 32}.png"  # chip of no face, no person
    stray.parent.mkdir()
    stray.write_bytes(b"png")
    temp = gallery.chips_dir / ada.person.id / f".tmp-{'a' * 32}.png"  # half-written chip
    temp.write_bytes(b"partial")
    orphan_id = "b" * 32  # an embedding whose enrol never committed
    gallery._index.add([orphan_id], faces.embedding("x")[None, :], [ada.person.id])
    gallery._index.delete([grace.face_id])  # an embedding Chroma lost
    gallery._index.set_person([ada.face_id], grace.person.id)  # a merge cut short
    gallery.close()

    reopened = open_gallery(tmp_path / "g")  # reconcile runs on open
    report = reopened.last_reconcile
    assert sorted(report.orphan_chips_removed) == sorted([str(stray), str(temp)])
    assert report.orphan_embeddings_removed == [orphan_id]
    assert report.embeddings_restored == [grace.face_id]
    assert report.embeddings_repointed == [ada.face_id]
    assert report.changed
    assert not stray.parent.exists() and not temp.exists()
    assert reopened.search(faces.embedding("grace"), k=1)[0].face_id == grace.face_id
    record = reopened._index.collection.get(ids=[ada.face_id], include=["metadatas"])
    assert record["metadatas"][0]["person_id"] == ada.person.id
    assert_consistent(reopened, {ada.face_id, grace.face_id})
    assert not reopened.reconcile().changed  # a second pass finds nothing


def test_reconcile_reports_a_missing_chip_without_deleting_the_face(
    gallery: Gallery, faces: FaceMaker
) -> None:
    face = gallery.get_face(gallery.enroll("Ada", faces.face("ada")).face_id)
    face.chip_path.unlink()
    report = gallery.reconcile()
    assert report.faces_without_chip == [face.id] and not report.changed
    assert gallery.count_faces() == 1


_CRASHING_ENROL = """
import os, signal, sys
from pathlib import Path
from store import Gallery
from store.index import EmbeddingIndex
from tests.store.conftest import FaceMaker

gallery = Gallery(Path(sys.argv[1]))
maker = FaceMaker(seed=1)
gallery.enroll("Ada", maker.face("ada"))

def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[2] == "after_chroma_add":
    real_add = EmbeddingIndex.add
    def add(self, *args):
        real_add(self, *args)
        die()
    EmbeddingIndex.add = add
else:
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        die()
    os.replace = replace
gallery.enroll("Grace", maker.face("grace"))
"""


@pytest.mark.parametrize("crash_point", ["after_chroma_add", "after_chip_moved"])
def test_kill_9_mid_enrol_is_repaired_on_open(
    open_gallery, tmp_path: Path, crash_point: str
) -> None:
    folder = tmp_path / "g"
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_ENROL, str(folder), crash_point],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(chip_files_under(folder)) == 2  # Ada's chip and Grace's (temp or final)

    gallery = open_gallery(folder)
    assert len(gallery.last_reconcile.orphan_chips_removed) == 1
    assert [p.name for p in gallery.people()] == ["Ada"]
    assert gallery.count_faces() == 1
    assert_consistent(gallery)


def chip_files_under(folder: Path) -> list[Path]:
    return [p for p in (folder / "chips").rglob("*") if p.is_file()]


def test_corrupt_database_says_how_to_recover(
    open_gallery, faces: FaceMaker, tmp_path: Path
) -> None:
    folder = tmp_path / "g"
    gallery = open_gallery(folder)
    gallery.enroll("Ada", faces.face("ada"))
    gallery.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{gallery.db_path}{suffix}").unlink(missing_ok=True)
    gallery.db_path.write_bytes(np.random.default_rng(0).bytes(8192))
    with pytest.raises(CorruptStore, match=r"unreadable.*import a gallery export"):
        Gallery(folder)


def test_lost_chroma_index_is_rebuilt_from_the_database(
    open_gallery, faces: FaceMaker, tmp_path: Path
) -> None:
    gallery = open_gallery(tmp_path / "g")
    ids = {gallery.enroll(name, faces.face(name)).face_id for name in ("ada", "grace", "alan")}
    gallery.close()
    shutil.rmtree(gallery.chroma_dir)
    reopened = open_gallery(tmp_path / "g")
    assert sorted(reopened.last_reconcile.embeddings_restored) == sorted(ids)
    assert reopened.search(faces.embedding("grace"), k=1)[0].person.name == "grace"
    assert_consistent(reopened, ids)


def test_unreadable_chroma_index_says_how_to_recover(
    open_gallery, faces: FaceMaker, tmp_path: Path
) -> None:
    gallery = open_gallery(tmp_path / "g")
    gallery.enroll("Ada", faces.face("ada"))
    gallery.close()
    shutil.rmtree(gallery.chroma_dir)
    gallery.chroma_dir.mkdir()
    (gallery.chroma_dir / "chroma.sqlite3").write_bytes(np.random.default_rng(1).bytes(8192))
    with pytest.raises(CorruptStore, match="move that Chroma folder aside"):
        Gallery(tmp_path / "g")


def test_missing_database_beside_chips_is_refused(
    open_gallery, faces: FaceMaker, tmp_path: Path
) -> None:
    folder = tmp_path / "g"
    gallery = open_gallery(folder)
    gallery.enroll("Ada", faces.face("ada"))
    gallery.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{gallery.db_path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(CorruptStore, match=r"gallery\.db is missing"):
        Gallery(folder)
    assert len(chip_files_under(folder)) == 1  # nothing was "reconciled" away


def test_unreachable_chroma_server(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nobody listens once closed
    with pytest.raises(StoreUnavailable, match=f"server at 127.0.0.1:{port} is not reachable"):
        Gallery(tmp_path / "g", chroma_host="127.0.0.1", chroma_port=port)


def test_closed_gallery_refuses_work(gallery: Gallery, faces: FaceMaker) -> None:
    gallery.close()
    gallery.close()  # idempotent
    with pytest.raises(GalleryError, match="closed"):
        gallery.enroll("Ada", faces.face("ada"))


def test_eight_threads_enrolling_and_deleting_lose_nothing(gallery: Gallery) -> None:
    threads, rounds = 8, 6
    barrier = threading.Barrier(threads)
    kept: dict[int, set[str]] = {}
    kept_people: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        maker = FaceMaker(seed=100 + t)
        mine: set[str] = set()
        try:
            barrier.wait()
            for r in range(rounds):
                a = gallery.enroll(f"worker {t}", maker.face(f"w{t}")).face_id
                b = gallery.enroll(f"worker {t}", maker.face(f"w{t}")).face_id
                mine |= {a, b}
                gallery.delete_face(a)  # every other face goes again
                mine.discard(a)
                temp = gallery.enroll(f"temp {t}.{r}", maker.face(f"t{t}{r}")).person
                gallery.search(maker.embedding(f"w{t}"), k=3)
                gallery.delete_person(temp.id)  # and a whole person
            kept[t] = mine
            kept_people[t] = gallery.find_person(f"worker {t}").id
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors
    expected = set().union(*kept.values())
    assert len(expected) == threads * rounds
    assert_consistent(gallery, expected)
    assert gallery.count_faces() == len(expected)
    assert sorted(p.name for p in gallery.people()) == sorted(f"worker {t}" for t in range(threads))
    for t, person_id in kept_people.items():
        assert {f.id for f in gallery.faces_of(person_id)} == kept[t]
    assert not gallery.reconcile().changed
