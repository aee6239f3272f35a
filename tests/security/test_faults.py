"""Faults read as sentences (hosting issue, part 7): every test names the hole it guards.

A Chroma server that goes away mid-run, a full disk and a locked database each give one plain
sentence on the page and one ``error: …`` line (non-zero) in the CLI; a bulk job stops with its
summary so far; nothing is half-written. The Chroma tests run a real ``chroma run`` on
127.0.0.1 and kill it (SIGKILL), as an operator's crash would.
"""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.enrollment import enroll_folder
from store import Gallery, StorageFull, StoreBusy, StoreUnavailable
from store.database import driver_error
from store.gallery import DEFAULT_MODEL_ID
from tests.chroma_server import ChromaServer
from tests.store.conftest import FaceMaker, assert_consistent, chip_files, db_face_ids

RAW = ("Errno", "ConnectError", "OperationalError", "No space left", "Traceback", "/")
"""Text that must not reach a user: errno and exception names, and no path (no slash)."""


def _plain(message: str) -> bool:
    """One sentence-like line without raw error text or paths (``host:port`` is fine)."""
    return "\n" not in message and not any(raw in message for raw in RAW)


def _shown(markdown: str) -> str:
    """What a reader sees of ``md_literal`` text: without its escapes and word joiners."""
    return markdown.replace("\\", "").replace("\u2060", "")


@pytest.fixture
def faces() -> FaceMaker:
    return FaceMaker()


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    with Gallery(tmp_path / "gallery") as opened:
        yield opened


# --- a real Chroma server that can be killed and restarted (tests/chroma_server.py) -------------


@pytest.fixture
def chroma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server")
    server.start()
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(server.port))
    try:
        yield server
    finally:
        server.kill()


class FakePipeline:
    """Stands in for the face pipeline in bulk jobs: one synthetic face per file, and an
    ``on_call`` hook that lets a test pull the floor away mid-run."""

    model_id = DEFAULT_MODEL_ID

    def __init__(self, on_call=None) -> None:
        self.calls = 0
        self.on_call = on_call

    def analyze(self, data: bytes) -> list:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        seed = int.from_bytes(hashlib.sha256(data).digest()[:4], "little")
        rng = np.random.default_rng(seed)
        box = SimpleNamespace(left=10.0, top=10.0, right=109.0, bottom=109.0)
        return [
            SimpleNamespace(
                embedding=rng.normal(0, 0.125, 128).astype(np.float32),
                chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
                box=box,
                landmarks=rng.uniform(0, 150, (5, 2)),
                score=1.0,
            )
        ]


def _people_folder(root: Path, count: int) -> Path:
    for i in range(count):
        person = root / f"Person_{i % 2}"
        person.mkdir(parents=True, exist_ok=True)
        (person / f"photo{i}.png").write_bytes(f"photo {i}".encode())
    return root


# --- Chroma server gone mid-run ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_chroma_server_gone_mid_run_is_one_sentence_and_data_stays_consistent(
    chroma: ChromaServer, tmp_path: Path
) -> None:
    """Hole: a Chroma server that went away gave a raw httpx.ConnectError on every call."""
    faces = FaceMaker(seed=5)
    gallery = Gallery(tmp_path / "g", chroma_host="127.0.0.1", chroma_port=chroma.port)
    kept = {gallery.enroll("Ada", faces.face("ada")).face_id for _ in range(2)}
    chroma.kill()

    expected = f"The search index server at {chroma.address} is not reachable; nothing was"
    for action in (
        lambda: gallery.enroll("Ada", faces.face("ada")),
        lambda: gallery.enroll("Grace", faces.face("grace")),  # a new person, too
        lambda: gallery.search(faces.embedding("ada")),
        lambda: gallery.nearest_people(faces.embedding("ada")),
        lambda: gallery.delete_person(gallery.people()[0].id),
    ):
        with pytest.raises(StoreUnavailable) as caught:
            action()
        assert str(caught.value).startswith(expected)
        assert _plain(str(caught.value).replace("--path DIR", ""))
    assert db_face_ids(gallery) == kept and len(chip_files(gallery)) == 2
    assert [p.name for p in gallery.people()] == ["Ada"]

    chroma.start()  # the same folder and port: the server's records come back
    assert {m.face_id for m in gallery.search(faces.embedding("ada"), k=5)} == kept
    assert_consistent(gallery, kept)
    gallery.close()
    with Gallery(tmp_path / "g", chroma_host="127.0.0.1", chroma_port=chroma.port) as again:
        assert not again.last_reconcile.changed
        assert_consistent(again, kept)


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_bulk_job_stops_with_its_summary_when_chroma_goes_away(
    chroma: ChromaServer, tmp_path: Path
) -> None:
    """Hole: the bulk job died with "unexpected ConnectError" and no summary."""
    folder = _people_folder(tmp_path / "people", 5)
    pipeline = FakePipeline(on_call=lambda n: chroma.kill() if n == 3 else None)
    with Gallery(tmp_path / "g", chroma_host="127.0.0.1", chroma_port=chroma.port) as gallery:
        summary = enroll_folder(pipeline, gallery, folder)
        assert summary.stopped is not None
        assert summary.stopped.startswith(f"The search index server at {chroma.address}")
        assert len(summary.outcomes) == 2 and summary.enrolled == 2 and summary.total == 5
        assert len(db_face_ids(gallery)) == 2 and len(chip_files(gallery)) == 2
        assert summary.as_dict()["stopped"] == summary.stopped


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_cli_enroll_prints_the_summary_so_far_then_one_error_line(
    chroma: ChromaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Hole: `cli.py enroll` printed "error: unexpected ConnectError" and no summary."""
    import cli
    from cli.context import CommandContext

    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path / "data"))
    pipeline = FakePipeline(on_call=lambda n: chroma.kill() if n == 3 else None)
    monkeypatch.setattr(CommandContext, "pipeline", lambda self, base=False: pipeline)
    code = cli.main(["enroll", str(_people_folder(tmp_path / "people", 5))])
    out, err = capsys.readouterr()
    assert code == 1
    assert "5 images: enrolled 2" in out and "stopped after 2 of 5 images" in out
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: The search index server at {chroma.address} is not")
    assert line.endswith("The job stopped after 2 of 5 images; what was enrolled stays enrolled.")
    assert "unexpected" not in line

    # A command run while the server is down: the same one line, before any model loads.
    image = tmp_path / "probe.png"
    image.write_bytes(b"not read")
    assert cli.main(["identify", str(image)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: The search index server at {chroma.address} is not")


# --- a full disk ---------------------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/srv/vision-lab/chips/x.png")


def test_full_disk_while_writing_a_chip_is_a_sentence_and_nothing_is_half_written(
    gallery: Gallery, faces: FaceMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole: a full disk gave "[Errno 28] No space left on device: '/srv/…'" (errno text and
    a server path)."""
    kept = gallery.enroll("Ada", faces.face("ada")).face_id
    monkeypatch.setattr("store.face_writes._write_durably", _disk_full)
    with pytest.raises(StorageFull) as caught:
        gallery.enroll("Grace", faces.face("grace"))
    message = str(caught.value)
    assert message.startswith("The disk holding the gallery is full (or over its quota); nothing")
    assert _plain(message)
    assert_consistent(gallery, {kept})
    assert gallery.find_person("Grace") is None
    monkeypatch.undo()
    gallery.enroll("Grace", faces.face("grace"))  # space is back: it works again


def test_full_database_is_a_sentence_and_rolls_back(gallery: Gallery, faces: FaceMaker) -> None:
    """Hole: SQLite's own "database or disk is full" reached the user as OperationalError."""
    kept = gallery.enroll("Ada", faces.face("ada")).face_id
    pages = gallery._db.execute("PRAGMA page_count").fetchone()[0]
    gallery._db.execute(f"PRAGMA max_page_count = {pages}")  # a real "disk is full" from SQLite
    with pytest.raises(StorageFull) as caught:
        for i in range(50):  # each face is ~1 KB of rows: the pages run out within a few
            gallery.enroll(f"Person {i}", faces.face(f"p{i}"))
    assert _plain(str(caught.value))
    assert isinstance(driver_error(caught.value.__cause__), sqlite3.OperationalError)
    assert_consistent(gallery)
    assert kept in db_face_ids(gallery)


def test_export_on_a_full_disk_leaves_no_partial_file(
    gallery: Gallery, faces: FaceMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole: an export hitting a full disk gave raw errno text."""
    gallery.enroll("Ada", faces.face("ada"))
    monkeypatch.setattr(zipfile.ZipFile, "writestr", _disk_full)
    out = tmp_path / "exports"
    with pytest.raises(StorageFull, match=r"^The disk holding the export is full") as caught:
        gallery.export_zip(out / "gallery.zip")
    assert "no export was written" in str(caught.value) and _plain(str(caught.value))
    assert list(out.iterdir()) == []


def test_bulk_job_on_a_full_disk_stops_with_its_summary(
    gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole: a store fault in the middle of a bulk job was an exception lost mid-run."""
    import store.face_writes

    real = store.face_writes._write_durably
    writes: list[Path] = []

    def fills_up(path: Path, data: bytes) -> None:
        writes.append(path)
        if len(writes) > 3:
            _disk_full()
        real(path, data)

    monkeypatch.setattr(store.face_writes, "_write_durably", fills_up)
    summary = enroll_folder(FakePipeline(), gallery, _people_folder(tmp_path / "people", 6))
    assert summary.stopped is not None and summary.stopped.startswith("The disk holding")
    assert summary.enrolled == 3 and summary.total == 6 and not summary.cancelled
    assert_consistent(gallery)
    assert len(db_face_ids(gallery)) == 3


# --- a locked database ---------------------------------------------------------------------------


def test_locked_database_is_a_sentence_and_nothing_changes(
    gallery: Gallery, faces: FaceMaker
) -> None:
    """Hole: another program holding gallery.db locked gave "database is locked"
    (sqlite3.OperationalError) after a 30 s wait."""
    kept = gallery.enroll("Ada", faces.face("ada")).face_id
    gallery._db.execute("PRAGMA busy_timeout = 50")  # the test's short wait, not 30 s
    other = sqlite3.connect(gallery.db_path, isolation_level=None, timeout=0.05)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreBusy) as caught:
            gallery.enroll("Grace", faces.face("grace"))
        message = str(caught.value)
        assert message.startswith("The database of the gallery is locked by another program")
        assert _plain(message)
        with pytest.raises(StoreBusy):
            gallery.rename(gallery.find_person("Ada").id, "Ada L")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert_consistent(gallery, {kept})
    assert [p.name for p in gallery.people()] == ["Ada"]
    gallery.enroll("Grace", faces.face("grace"))  # the lock is gone: it works again


# --- the pages: one plain message, no traceback --------------------------------------------------


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_recognize_and_enroll_pages_say_one_sentence_when_chroma_is_gone(
    chroma: ChromaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut, grace_hopper
) -> None:
    """Hole: Recognize and Enroll showed a raw httpx.ConnectError traceback."""
    from tests.pages.face_app import enroll_directly, png, start_page, upload

    at = start_page("ui/pages/recognize.py", tmp_path / "data", monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "eileen")
    chroma.kill()
    at = at.run()
    upload(at, "recognize", ("astronaut.png", png(astronaut)))
    assert not at.exception, at.exception
    [error] = at.error
    assert _shown(error.value).startswith(f"The search index server at {chroma.address} is not")

    at.switch_page("ui/pages/enroll.py").run()
    upload(at, "enroll", ("grace.png", png(grace_hopper)))
    at.text_input(key="enroll_new_name").input("Grace Hopper").run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [error.value]
    assert not at.success
