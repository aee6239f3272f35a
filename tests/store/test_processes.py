"""Several processes sharing one gallery folder: two app instances, the app and a CLI job.

Each child process opens its own ``Gallery`` on the same folder (spawn start method, so nothing
is inherited). The checks read gallery.db, Chroma and the chip files independently, and a
gallery opened *before* the children wrote (a long-running app) must find their faces.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

from store import Gallery
from store.errors import StoreUnavailable
from store.locking import LOCK_FILE_NAME, GalleryFolderLock
from tests.store import process_workers
from tests.store.conftest import FaceMaker, assert_consistent

SPAWN = multiprocessing.get_context("spawn")


def _run_workers(folder: Path, processes: int, threads: int, rounds: int) -> list[dict]:
    start = SPAWN.Barrier(processes)
    results = SPAWN.Queue()
    children = [
        SPAWN.Process(
            target=process_workers.enrol_and_delete,
            args=(str(folder), p, threads, rounds, start, results),
        )
        for p in range(processes)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=240) for _ in range(processes * threads)]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return reports


@pytest.mark.parametrize(
    ("processes", "threads", "rounds"),
    [(8, 1, 4), (4, 2, 2)],
    ids=["8-processes", "4-processes-x-2-threads"],
)
def test_processes_enrolling_and_deleting_lose_and_duplicate_nothing(
    open_gallery, tmp_path: Path, processes: int, threads: int, rounds: int
) -> None:
    folder = tmp_path / "g"
    app = open_gallery(folder)  # a long-running app that stays open while the others write
    before = app.enroll("Before", FaceMaker(seed=7).face("before")).face_id

    reports = _run_workers(folder, processes, threads, rounds)

    assert [r["error"] for r in reports if r["error"]] == []
    workers = processes * threads
    kept: dict[str, list[float]] = {}
    for r in reports:
        assert not set(r["kept"]) & set(kept), "one face id handed to two enrols"
        kept.update(r["kept"])
    same = [r["same"] for r in reports]
    assert sorted(s[0] for s in same) == ["duplicate"] * (workers - 1) + ["enrolled"]
    (winner,) = [s for s in same if s[0] == "enrolled"]
    assert {s[1] for s in same} == {winner[1]}  # the losers were pointed at the winner's face
    kept[winner[1]] = winner[2]

    expected = set(kept) | {before}
    assert len(expected) == workers * rounds * 2 + 2
    assert_consistent(app, expected)
    people = {p.name: p for p in app.people()}
    assert sorted(people) == sorted(
        ["Before", "Everyone", "Group", *(f"worker {r['worker']}" for r in reports)]
    )
    assert people["Everyone"].face_count == workers * rounds  # one person, created once
    assert not app.reconcile().changed

    # The long-running app finds what the other processes enrolled (it reloads its index).
    ids = list(kept)
    nearest = [app.search(np.asarray(kept[i], np.float32), k=1) for i in ids]
    assert [m[0].face_id for m in nearest] == ids
    # And so does a process that opens the gallery afterwards.
    assert process_workers.nearest_face_ids(str(folder), [kept[i] for i in ids]) == ids


def test_folder_lock_excludes_other_processes(tmp_path: Path) -> None:
    holder = GalleryFolderLock(tmp_path)
    waiter = SPAWN.Process(target=_take_lock_briefly, args=(str(tmp_path), 0.3))
    with holder.exclusive():
        with holder.shared():  # nested inside exclusive: only counted
            pass
        waiter.start()
        time.sleep(1.0)
        assert waiter.exitcode is None  # still waiting for us (0.3 s timeout would have failed)
    waiter.join(timeout=60)
    assert (tmp_path / LOCK_FILE_NAME).exists()


def _take_lock_briefly(folder: str, timeout_s: float) -> None:
    lock = GalleryFolderLock(Path(folder), timeout_s=60)
    with lock.exclusive():
        pass


def test_folder_lock_times_out_with_a_clear_message(tmp_path: Path) -> None:
    holder = GalleryFolderLock(tmp_path)
    other = GalleryFolderLock(tmp_path, timeout_s=0.2)  # another descriptor: another "process"
    with (
        holder.exclusive(),
        pytest.raises(StoreUnavailable, match="held the gallery lock"),
        other.shared(),
    ):
        pass
    with other.exclusive():  # free again
        pass
    with (
        holder.shared(),
        pytest.raises(RuntimeError, match="exclusively while shared"),
        holder.exclusive(),
    ):
        pass


def test_a_gallery_left_open_sees_another_process_enrol(open_gallery, tmp_path: Path) -> None:
    """Without the reload, an embedded Chroma client open before another process wrote never
    returns that process's faces from a query (measured: 0 of 20 found). The app keeps a view
    per model open on the same folder: the reload must work with another view open too
    (Chroma shares one client per path within a process, measured: 1 of 6 found)."""
    folder = tmp_path / "g"
    app = open_gallery(folder)
    open_gallery(folder, model_id="another-model")  # the app's view for a trained model
    maker = FaceMaker(seed=3)
    app.enroll("Ada", maker.face("ada"))
    child = SPAWN.Process(target=_enrol_grace, args=(str(folder),))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    grace = app.find_person("Grace")
    assert grace is not None
    found = app.search(app.person_embeddings(grace.id)[0], k=1)
    assert found[0].person.name == "Grace" and found[0].distance == 0.0


def _enrol_grace(folder: str) -> None:
    with Gallery(Path(folder)) as gallery:
        gallery.enroll("Grace", FaceMaker(seed=4).face("grace"))
