"""kill -9 in the middle of a bulk enrolment, at random moments; the gallery must come back whole.

A real child process runs the bulk enrolment (``tests/store/bulk_enrol_child.py``: the
``enroll_folder`` behind ``cli.py enroll``, or ``import_zip``'s batches) and is killed once
gallery.db holds a random number of its faces, plus a random 0–40 ms (one enrol takes ~30 ms,
so the signal lands anywhere inside the next write). Reopening must leave no orphan chip, no
embedding without its face, every face complete, and running the same job again must finish it
without storing anything twice. ``STORE_KILL_TRIALS`` sets the number of trials (default 4 each).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from store import Gallery
from tests.store.bulk_enrol_child import IMPORT_BATCH_FOR_TESTS, SyntheticPipeline
from tests.store.conftest import assert_consistent, chip_files, chroma_ids

ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("STORE_KILL_TRIALS", "4"))
PEOPLE, PHOTOS = 6, 8


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<person>/<images>``: PEOPLE folders of PHOTOS files (bytes the synthetic pipeline
    turns into one face each)."""
    root = tmp_path_factory.mktemp("bulk-source")
    for p in range(PEOPLE):
        folder = root / f"Person_{p:02d}"
        folder.mkdir()
        for i in range(PHOTOS):
            (folder / f"{i:02d}.png").write_bytes(f"photo {i} of person {p}".encode() * 20)
    return root


def _faces_in(db_path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM faces").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def _run_and_kill(gallery_dir: Path, mode: str, source: Path, target: int, extra_s: float) -> int:
    """Start the bulk job, SIGKILL it once ``target`` faces are committed (+ ``extra_s``);
    return its exit status (−9 when the kill landed, 0 when it finished first)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.bulk_enrol_child", str(gallery_dir), mode, str(source)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        db_path = gallery_dir / "gallery.db"
        deadline = time.monotonic() + 60
        while _faces_in(db_path) < target and child.poll() is None:
            assert time.monotonic() < deadline, "the bulk job stalled"
            time.sleep(0.002)
        time.sleep(extra_s)
        child.send_signal(signal.SIGKILL)
        return child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _assert_whole(gallery: Gallery) -> None:
    assert_consistent(gallery)  # gallery.db, Chroma and chip files hold the same faces
    assert not any(p.name.startswith(".tmp-") for p in chip_files(gallery))
    people = {p.id for p in gallery.people()}
    for face_id in chroma_ids(gallery):
        face = gallery.get_face(face_id)  # no embedding without its face row …
        assert face.person_id in people  # … nor without its person
        stored = gallery._index.collection.get(ids=[face_id], include=["metadatas"])
        assert stored["metadatas"][0]["person_id"] == face.person_id
    assert not gallery.reconcile().changed


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_9_during_bulk_enrol_of_a_folder(source: Path, tmp_path: Path, trial: int) -> None:
    from engine.enrollment import _folder_items, enroll_folder, image_sha256

    total = PEOPLE * PHOTOS
    rng = np.random.default_rng(trial)
    gallery_dir = tmp_path / "g"
    status = _run_and_kill(
        gallery_dir, "folder", source, int(rng.integers(0, total)), float(rng.uniform(0, 0.04))
    )
    assert status in (-signal.SIGKILL, 0)

    with Gallery(gallery_dir) as gallery:
        print(
            f"folder trial {trial}: exit {status}, {gallery.count_faces()} faces kept; "
            f"repaired: {gallery.last_reconcile}"
        )
        _assert_whole(gallery)
        # One file, one enrol, in folder order: what is stored is exactly the first k files.
        items, _ = _folder_items(source)
        shas = [f.image_sha256 for p in gallery.people() for f in gallery.faces_of(p.id)]
        k = len(shas)
        assert sorted(shas) == sorted(image_sha256(item.read()) for item in items[:k])
        assert {p.name for p in gallery.people()} == {item.person for item in items[:k]}

        # Running the job again finishes it; nothing is stored twice.
        summary = enroll_folder(SyntheticPipeline(), gallery, source)  # type: ignore[arg-type]
        assert (summary.enrolled, summary.duplicate) == (total - k, k)
        assert gallery.count_faces() == total and gallery.count_people() == PEOPLE
        _assert_whole(gallery)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_9_during_an_import_leaves_whole_batches(
    source: Path, tmp_path: Path, trial: int
) -> None:
    from engine.enrollment import enroll_folder

    export = tmp_path / "export.zip"
    with Gallery(tmp_path / "original") as original:
        enroll_folder(SyntheticPipeline(), original, source)  # type: ignore[arg-type]
        original.export_zip(export)
        people = sorted(p.name for p in original.people())
    total = PEOPLE * PHOTOS
    rng = np.random.default_rng(100 + trial)
    gallery_dir = tmp_path / "g"
    status = _run_and_kill(
        gallery_dir, "import", export, int(rng.integers(0, total)), float(rng.uniform(0, 0.04))
    )
    assert status in (-signal.SIGKILL, 0)

    with Gallery(gallery_dir) as gallery:
        k = gallery.count_faces()
        print(
            f"import trial {trial}: exit {status}, {k} faces kept; "
            f"repaired: {gallery.last_reconcile}"
        )
        _assert_whole(gallery)
        assert k % IMPORT_BATCH_FOR_TESTS == 0  # each batch wholly in or wholly out
        summary = gallery.import_zip(export)
        assert (summary.faces_imported, summary.faces_skipped) == (total - k, k)
        assert sorted(p.name for p in gallery.people()) == people
        _assert_whole(gallery)
