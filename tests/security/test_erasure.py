"""Erasure that leaves nothing: after a delete, merge, rename or notes edit, no byte of any file
in the data folder holds the old name, notes, person id or deleted embedding.

Each test scans every file under the data folder, with the gallery still open (the app running)
and after it is closed, for the name and notes (UTF-8, UTF-16-LE, UTF-16-BE), the person id and
each deleted embedding as float32 and float64 bytes. Each names the hole it guards.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.neurons.index import LayerIndex, NeuronIndex, load_index
from engine.neurons.receptive_field import ReceptiveField
from engine.neurons.topk import TopKArrays
from store import Gallery, Person
from store.archive import GalleryArchive, chip_member, write_archive
from store.erasure import main as purge_main
from store.gallery import SCHEMA_VERSION
from tests.chroma_server import ChromaServer
from tests.store.conftest import DIM, MODEL, FaceMaker

NAME = "Zebulon Quixotebridge"
NOTES = "met at the marmalade symposium, badge 77310"


def _text_needles(label: str, text: str) -> dict[str, bytes]:
    return {
        f"{label} (utf-8)": text.encode("utf-8"),
        f"{label} (utf-16-le)": text.encode("utf-16-le"),
        f"{label} (utf-16-be)": text.encode("utf-16-be"),
    }


def _embedding_needles(label: str, embeddings: np.ndarray) -> dict[str, bytes]:
    found = {}
    for i, vector in enumerate(np.asarray(embeddings)):
        found[f"{label} {i} (float32)"] = np.asarray(vector, "<f4").tobytes()
        found[f"{label} {i} (float64)"] = np.asarray(vector, "<f8").tobytes()
    return found


def leftovers(folder: Path, needles: dict[str, bytes]) -> list[str]:
    """'<file>: <needle>' for every needle found in any file under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        data = path.read_bytes()
        found += [f"{path.relative_to(folder)}: {k}" for k, v in needles.items() if v in data]
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def open_gallery(data_dir: Path) -> Iterator[Callable[..., Gallery]]:
    opened: list[Gallery] = []

    def make(**kwargs: object) -> Gallery:
        gallery = Gallery(data_dir / "gallery", **kwargs)  # type: ignore[arg-type]
        opened.append(gallery)
        return gallery

    yield make
    for gallery in opened:
        gallery.close()


def _enrol_target(gallery: Gallery, maker: FaceMaker, faces: int = 3) -> tuple[Person, np.ndarray]:
    for other in ("Ada Lovelace", "Grace Hopper", "Alan Turing"):
        for _ in range(2):
            gallery.enroll(other, maker.face(other))
    person = gallery.add_person(NAME, NOTES)
    for _ in range(faces):
        gallery.enroll(person, maker.face("target"))
    return gallery.get_person(person.id), gallery.person_embeddings(person.id)


def _person_needles(person: Person, embeddings: np.ndarray) -> dict[str, bytes]:
    return {
        **_text_needles("name", person.name),
        **_text_needles("notes", person.notes),
        **_text_needles("person id", person.id),
        **_embedding_needles("embedding", embeddings),
    }


def test_the_scan_finds_what_a_plain_delete_used_to_leave(open_gallery, data_dir: Path) -> None:
    """The scan itself: before any deletion every needle is found (so an empty scan means
    erased, not a scan that looks nowhere)."""
    gallery = open_gallery()
    person, embeddings = _enrol_target(gallery, FaceMaker())
    gallery.close()
    found = leftovers(data_dir, _person_needles(person, embeddings))
    for needle in ("name (utf-8)", "notes (utf-8)", "person id (utf-8)", "embedding 0 (float32)"):
        assert any(needle in f for f in found), needle


def test_delete_person_leaves_nothing_while_open_and_after_close(
    open_gallery, data_dir: Path
) -> None:
    """Holes: gallery.db and its -wal kept the name, notes and embeddings while the app held the
    gallery open; chroma.sqlite3's embeddings_queue kept the ids and vectors."""
    gallery = open_gallery()
    person, embeddings = _enrol_target(gallery, FaceMaker())
    needles = _person_needles(person, embeddings)
    gallery.delete_person(person.id)
    assert leftovers(data_dir, needles) == []  # the app still running
    assert [p.name for p in gallery.people()] == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    maker = FaceMaker()
    assert gallery.search(maker.embedding("Ada Lovelace"), k=1)[0].person.name == "Ada Lovelace"
    gallery.close()
    assert leftovers(data_dir, needles) == []


def test_delete_face_leaves_no_copy_of_its_embedding(open_gallery, data_dir: Path) -> None:
    """Hole: Chroma's HNSW files and queue, and gallery.db's freed cells, kept a deleted face's
    vector."""
    gallery = open_gallery()
    person, embeddings = _enrol_target(gallery, FaceMaker())
    face = gallery.faces_of(person.id)[0]
    gallery.delete_face(face.id)
    needles = {
        **_embedding_needles("embedding", embeddings[:1]),
        **_text_needles("face id", face.id),
    }
    assert leftovers(data_dir, needles) == []
    assert len(gallery.search(embeddings[1], k=10)) == 8  # 9 faces, one deleted
    gallery.close()
    assert leftovers(data_dir, needles) == []


def test_merge_away_leaves_no_name_or_id_of_the_absorbed_person(
    open_gallery, data_dir: Path
) -> None:
    """Hole: Chroma's queue and metadata history kept the absorbed person's id. Their faces
    (embeddings) and notes move to the kept person on purpose; their name and id must go."""
    gallery = open_gallery()
    absorbed, _ = _enrol_target(gallery, FaceMaker())
    keep = gallery.find_person("Ada Lovelace")
    assert keep is not None
    gallery.merge(keep.id, absorbed.id)
    needles = {**_text_needles("name", NAME), **_text_needles("person id", absorbed.id)}
    assert leftovers(data_dir, needles) == []
    assert gallery.get_person(keep.id).face_count == 5
    gallery.close()
    assert leftovers(data_dir, needles) == []


def test_rename_and_notes_edit_leave_no_old_value(open_gallery, data_dir: Path) -> None:
    """Hole: an overwritten name or notes stayed in gallery.db's freed cells, its -wal and the
    old entry of the name index."""
    gallery = open_gallery()
    person, _ = _enrol_target(gallery, FaceMaker())
    gallery.rename(person.id, "Someone Else")
    gallery.set_notes(person.id, "nothing to say")
    needles = {**_text_needles("name", NAME), **_text_needles("notes", NOTES)}
    assert leftovers(data_dir, needles) == []
    gallery.close()
    assert leftovers(data_dir, needles) == []


_CRASHING_DELETE = """
import os, sys
import numpy as np
import store.gallery
from store import Gallery
from tests.security.test_erasure import FaceMaker, _enrol_target

gallery = Gallery(sys.argv[1])
person, embeddings = _enrol_target(gallery, FaceMaker())
np.save(sys.argv[2], embeddings)
print(person.id, flush=True)
store.gallery.erase_pending = lambda gallery: None  # the process dies between COMMIT and the purge
gallery.delete_person(person.id)
os._exit(0)
"""


def test_a_deletion_cut_short_is_finished_on_the_next_open(
    open_gallery, data_dir: Path, tmp_path: Path
) -> None:
    """Hole: a crash between the deleting COMMIT and the purge would leave Chroma's copies for
    good; the mark written with the deletion makes the next open finish it. The crash is a
    real process dying (in-process, Chroma's shared client would outlive the "crash")."""
    saved = tmp_path / "embeddings.npy"
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_DELETE, str(data_dir / "gallery"), str(saved)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    person_id = child.stdout.split()[0]
    person = Person(person_id, NAME, created="", notes=NOTES, face_count=0)
    needles = _person_needles(person, np.load(saved))
    assert leftovers(data_dir, needles) != []  # the rows went, the copies are still there
    reopened = open_gallery()
    assert leftovers(data_dir, needles) == []
    assert reopened.count_faces() == 6


def _png(rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _archive(path: Path, people: int, faces_each: int) -> Path:
    """An export of ``people`` × ``faces_each`` synthetic faces with tiny chips (fast import)."""
    rng = np.random.default_rng(5)
    people_rows, faces, chips = [], [], {}
    for p in range(people):
        person_id = hashlib.md5(f"p{p}".encode()).hexdigest()
        people_rows.append({"id": person_id, "name": f"person {p}", "notes": "", "created": ""})
        for f in range(faces_each):
            face_id = hashlib.md5(f"p{p}f{f}".encode()).hexdigest()
            member = chip_member(person_id, face_id)
            chips[member] = _png(rng)
            faces.append(
                {
                    "id": face_id,
                    "person_id": person_id,
                    "image_sha256": hashlib.sha256(member.encode()).hexdigest(),
                    "box": [0.0, 0.0, 7.0, 7.0],
                    "landmarks": [[1.0, 1.0]] * 5,
                    "score": 1.0,
                    "created": "",
                    "chip": member,
                }
            )
    embeddings = rng.normal(0, 0.125, (len(faces), DIM)).astype(np.float32)
    archive = GalleryArchive(MODEL, DIM, SCHEMA_VERSION, people_rows, faces, embeddings, chips)
    return write_archive(path, archive)


def test_deleted_vectors_leave_the_persisted_hnsw_files(
    open_gallery, data_dir: Path, tmp_path: Path
) -> None:
    """Hole: past 1,000 records Chroma persists its HNSW index, whose data_level0.bin keeps a
    deleted vector (hnswlib only marks it deleted)."""
    gallery = open_gallery()
    person, embeddings = _enrol_target(gallery, FaceMaker())
    gallery.import_zip(_archive(tmp_path / "many.zip", 220, 5))  # 1,100 more: HNSW persisted
    hnsw = [p for p in (data_dir / "gallery" / "chroma").rglob("data_level0.bin")]
    assert any(embeddings[0].astype("<f4").tobytes() in p.read_bytes() for p in hnsw)
    started = time.perf_counter()
    gallery.delete_person(person.id)
    seconds = time.perf_counter() - started
    assert leftovers(data_dir, _person_needles(person, embeddings)) == []
    assert gallery.count_faces() == 1106
    print(f"delete_person at 1,106 faces: {seconds:.2f} s")


def test_neuron_index_of_the_gallery_chips_holds_no_ids(tmp_path: Path) -> None:
    """Hole: a neuron index of the gallery's chips kept '<person id>/<face id>.png' in
    meta.json; a deleted chip's entry must not name it, and its hits must go."""
    chips = tmp_path / "gallery" / "chips"
    names = []
    for p in ("a" * 32, "b" * 32):
        for f in ("1" * 32, "2" * 32):
            (chips / p).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8)).save(chips / p / f"{f}.png")
            names.append(f"{p}/{f}.png")
    top = TopKArrays(
        np.array([[3.0, 2.0, 1.0]], np.float32),
        np.array([[0, 2, 3]], np.int64),
        np.zeros((1, 3), np.int64),
        np.zeros((1, 3), np.int64),
    )
    layer = LayerIndex("conv1", ReceptiveField(3, 1, 0), top, np.zeros((1, 2, 2)), len(names))
    out = tmp_path / "neurons" / "face-x"
    NeuronIndex(out, "face", 8, 3, chips, names, "f" * 64, {"conv1": layer}, 4, True).save()
    for person_id in ("a" * 32, "b" * 32):
        assert leftovers(out, _text_needles("person id", person_id)) == []
    assert [h.path.name for h in load_index(out).hits("conv1", 0)] == [
        "1" * 32 + ".png",
        "1" * 32 + ".png",
        "2" * 32 + ".png",
    ]
    (chips / ("a" * 32) / ("1" * 32 + ".png")).unlink()  # the face is deleted
    loaded = load_index(out)
    assert [h.image_id for h in loaded.hits("conv1", 0)] == [2, 3]


@pytest.fixture
def chroma_server_folder(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "server").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_a_chroma_server_folder_is_clean_after_the_operator_purge(
    chroma_server_folder, data_dir: Path, tmp_path: Path
) -> None:
    """Hole: a Chroma server kept the deleted person's ids and vectors (queue, freed pages,
    HNSW). The gallery rebuilds the collection through the API; the operator's
    `python -m store.erasure PATH` (server stopped) removes what the server left on disk."""
    server = chroma_server_folder
    folder = server.folder
    gallery = Gallery(data_dir / "gallery", chroma_host=server.host, chroma_port=server.port)
    try:
        person, embeddings = _enrol_target(gallery, FaceMaker())
        gallery.import_zip(_archive(tmp_path / "many.zip", 220, 5))  # HNSW persisted
        gallery.delete_person(person.id)
        assert gallery.count_faces() == 1106
    finally:
        gallery.close()
    needles = _person_needles(person, embeddings)
    assert leftovers(data_dir, needles) == []  # the gallery's own folder
    server.stop()
    assert leftovers(folder, needles) != []  # the dropped segment's folder, free pages
    assert purge_main([str(folder)]) == 0
    assert leftovers(folder, needles) == []


def test_the_gallery_connection_zeroes_what_it_frees(open_gallery) -> None:
    """Hole: the project never set secure_delete (it is per connection, not in the file)."""
    assert open_gallery()._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
