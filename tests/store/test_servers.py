"""Several app instances on real servers: one PostgreSQL and one ``chroma run``, each instance
with a data folder of its own (as on separate machines), nothing of the gallery on their disks.

- two instances in one process, four threads each, and two *processes* enrolling, deleting
  and searching at once: nothing lost or duplicated, each sees the other's faces and chips;
- ``kill -9`` in the middle of a bulk enrolment: reopening repairs it, re-running finishes it;
- deleting a person leaves no byte of them (key, name, embedding, chip) in any file of the
  PostgreSQL server once its old log segments are retired.
"""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from store import Gallery
from store.errors import GalleryError
from tests.chroma_server import ChromaServer
from tests.postgres_server import PostgresServer
from tests.store import process_workers
from tests.store.bulk_enrol_child import SyntheticPipeline
from tests.store.conftest import FaceMaker, assert_consistent, chroma_ids

pytestmark = pytest.mark.filterwarnings("ignore:legacy embedding function config")

SPAWN = multiprocessing.get_context("spawn")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "db").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def servers(postgres: PostgresServer, chroma_server: ChromaServer) -> dict[str, Any]:
    """``Gallery`` arguments for a fresh database on the shared servers."""
    chroma_server.empty()
    return {
        "database_url": postgres.database(),
        "chroma_host": chroma_server.host,
        "chroma_port": chroma_server.port,
    }


@pytest.fixture
def instances(tmp_path: Path, servers: dict[str, Any]) -> Iterator[Any]:
    opened: list[Gallery] = []

    def open_instance(name: str) -> Gallery:
        gallery = Gallery(tmp_path / name, **servers)
        opened.append(gallery)
        return gallery

    yield open_instance
    for gallery in opened:
        gallery.close()


def test_an_instance_reads_the_faces_and_chips_another_enrolled(
    instances, faces: FaceMaker, tmp_path: Path
) -> None:
    first, second = instances("first"), instances("second")
    face = faces.face("ada")
    enrolled = first.enroll("Ada Lovelace", face)
    [match] = second.search(faces.embedding("ada"), k=1)
    assert match.face_id == enrolled.face_id and match.chip_path is None
    stored = second.chip_rgb(enrolled.face_id)
    assert stored is not None and np.array_equal(stored, face.chip)  # lossless, on any machine
    assert np.array_equal(second.person_embeddings(enrolled.person.id)[0], face.embedding)
    assert not list(tmp_path.rglob("*.png"))  # no chip on either instance's disk
    second.delete_person(enrolled.person.id)
    assert first.chip_png(enrolled.face_id) is None and first.count_faces() == 0
    assert_consistent(first, set())


def test_two_instances_share_the_servers_without_losing_a_write(
    instances, faces: FaceMaker
) -> None:
    """Two galleries on separate data folders, each enrolling from four threads at once."""
    first, second = instances("first"), instances("second")
    errors: list[BaseException] = []

    def enrol(gallery: Gallery, who: str) -> None:
        try:
            for n in range(5):
                gallery.enroll(f"{who} {n}", faces.face(f"{who}-{n}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=enrol, args=(gallery, f"{name} {t}"))
        for gallery, name in ((first, "First"), (second, "Second"))
        for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert first.count_people() == second.count_people() == 40
    assert first.count_faces() == second.count_faces() == 40
    assert_consistent(second)
    for n in range(5):  # each finds the other's enrolments by search
        [match] = first.search(faces.embedding(f"Second 0-{n}"), k=1)
        assert match.person.name == f"Second 0 {n}"


def test_two_app_processes_enrolling_and_deleting_lose_and_duplicate_nothing(
    tmp_path: Path, servers: dict[str, Any]
) -> None:
    """The multi-process test of one folder (``test_processes``), now with each process an
    instance with its own folder on the shared servers."""
    processes, threads, rounds = 2, 2, 3
    app = Gallery(tmp_path / "app", **servers)  # a long-running instance, open throughout
    try:
        before = app.enroll("Before", FaceMaker(seed=7).face("before")).face_id
        start, results = SPAWN.Barrier(processes), SPAWN.Queue()
        children = [
            SPAWN.Process(
                target=process_workers.enrol_and_delete,
                args=(str(tmp_path / f"instance-{p}"), p, threads, rounds, start, results),
                kwargs={"options": servers},
            )
            for p in range(processes)
        ]
        began = time.monotonic()
        for child in children:
            child.start()
        reports = [results.get(timeout=300) for _ in range(processes * threads)]
        for child in children:
            child.join(timeout=60)
            assert child.exitcode == 0
        print(f"{processes} processes × {threads} threads: {time.monotonic() - began:.1f} s")

        assert [r["error"] for r in reports if r["error"]] == []
        kept: dict[str, list[float]] = {}
        for r in reports:
            assert not set(r["kept"]) & set(kept), "one face id handed to two enrols"
            kept.update(r["kept"])
        same = [r["same"] for r in reports]
        workers = processes * threads
        assert sorted(s[0] for s in same) == ["duplicate"] * (workers - 1) + ["enrolled"]
        (winner,) = [s for s in same if s[0] == "enrolled"]
        assert {s[1] for s in same} == {winner[1]}
        kept[winner[1]] = winner[2]

        expected = set(kept) | {before}
        assert len(expected) == workers * rounds * 2 + 2
        assert_consistent(app, expected)
        people = {p.name: p for p in app.people()}
        assert people["Everyone"].face_count == workers * rounds  # one person, created once
        assert not app.reconcile().changed
        ids = list(kept)
        nearest = [app.search(np.asarray(kept[i], np.float32), k=1)[0].face_id for i in ids]
        assert nearest == ids
        fresh = process_workers.nearest_face_ids(
            str(tmp_path / "later"), [kept[i] for i in ids], servers
        )
        assert fresh == ids
    finally:
        app.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bulk-source")
    for p in range(4):
        folder = root / f"Person_{p:02d}"
        folder.mkdir()
        for i in range(8):
            (folder / f"{i:02d}.png").write_bytes(f"photo {i} of person {p}".encode() * 20)
    return root


def _faces_in(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM faces")).scalar_one())
    except Exception:  # not created yet
        return 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("trial", range(2))
def test_kill_9_during_a_bulk_enrol_on_the_servers(
    source: Path, tmp_path: Path, servers: dict[str, Any], trial: int
) -> None:
    from engine.enrollment import enroll_folder

    total = 32
    target = int(np.random.default_rng(trial).integers(1, total - 4))
    chroma = f"{servers['chroma_host']}:{servers['chroma_port']}"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.bulk_enrol_child", str(tmp_path / "job"), "folder",
         str(source), servers["database_url"], chroma],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while _faces_in(servers["database_url"]) < target and child.poll() is None:
            assert time.monotonic() < deadline, "the bulk job stalled"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) in (-signal.SIGKILL, 0)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    # An add the child had already sent still lands at the Chroma server after the kill (its
    # row never commits): an orphan vector that search skips and the next repair removes. Let
    # the server finish it, so this repair is the one that meets it.
    time.sleep(1.0)
    with Gallery(tmp_path / "another-instance", **servers) as gallery:
        k = gallery.count_faces()
        print(f"trial {trial}: killed at ≥{target}, {k} faces kept, {gallery.last_reconcile}")
        assert_consistent(gallery)
        for face_id in chroma_ids(gallery):
            assert gallery.chip_rgb(face_id) is not None
        summary = enroll_folder(SyntheticPipeline(), gallery, source)  # type: ignore[arg-type]
        assert (summary.enrolled, summary.duplicate) == (total - k, k)
        assert gallery.count_faces() == total
        assert_consistent(gallery)
        assert not gallery.reconcile().changed


def test_deleting_a_person_leaves_no_byte_of_them_in_postgres(
    postgres: PostgresServer, servers: dict[str, Any], tmp_path: Path, faces: FaceMaker
) -> None:
    name = "Zebulon Quartermaine-Oyelaran"
    with Gallery(tmp_path / "g", **servers) as gallery:
        gallery.enroll("Grace Hopper", faces.face("grace"))
        victim = [faces.face("zeb") for _ in range(3)]
        person = None
        for face in victim:
            person = gallery.enroll(name, face).person
        assert person is not None
        keys = [
            bytes(r[0])
            for r in gallery._db.execute(
                "SELECT k.key FROM face_keys k JOIN faces f ON f.id = k.face_id "
                "WHERE f.person_id = ?",
                (person.id,),
            )
        ]
        embeddings = [f.embedding.astype("<f4").tobytes()[:64] for f in victim]
        assert len(keys) == 3
        gallery._db.execute("CHECKPOINT")
        before = postgres.scan(name.encode(), *keys, *embeddings)
        assert before[name.encode()] and all(before[k] for k in keys)  # the scan sees them
        assert not any(before[e] for e in embeddings)  # embeddings never stored in clear

        gallery.delete_person(person.id)
        gallery._db.execute("CHECKPOINT")
        postgres.retire_old_log()
        after = postgres.scan(name.encode(), *keys, *embeddings)
        assert {needle: files for needle, files in after.items() if files} == {}
        assert [p.name for p in gallery.people()] == ["Grace Hopper"]
        assert_consistent(gallery)


def test_a_second_folder_with_its_own_embedded_chroma_is_refused(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    database = postgres.database()
    with Gallery(tmp_path / "first", database_url=database):
        pass
    with pytest.raises(GalleryError, match="must share a Chroma server too"):
        Gallery(tmp_path / "second", database_url=database)
    Gallery(tmp_path / "first", database_url=database).close()  # its owner still opens it
