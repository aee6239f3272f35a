"""The gallery's everyday operations: enrol, list, rename, merge, delete, search."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from store import (
    FaceNotFound,
    Gallery,
    ModelMismatch,
    NameTaken,
    NewFace,
    PersonNotFound,
    collection_name,
)
from store.db import sync_index
from store.gallery import DEFAULT_EMBEDDING_DIM, DEFAULT_MODEL_ID
from tests.store.conftest import FaceMaker, assert_consistent, chip_files, chroma_ids


def test_default_model_is_the_engines_face_resnet() -> None:
    from engine.faces.weights import FACE_RESNET_V1

    assert (FACE_RESNET_V1.model_id, FACE_RESNET_V1.embedding_dim) == (
        DEFAULT_MODEL_ID,
        DEFAULT_EMBEDDING_DIM,
    )


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_collection_is_tuned_l2_without_embedding_function(gallery: Gallery) -> None:
    collection = gallery._index.collection
    assert collection.name == "faces__dlib-resnet-v1"
    hnsw = collection.configuration["hnsw"]
    assert (hnsw["space"], hnsw["ef_search"], hnsw["ef_construction"], hnsw["max_neighbors"]) == (
        "l2",
        256,
        200,
        32,
    )
    assert collection.configuration["embedding_function"] is None
    assert collection.metadata["model_id"] == "dlib-resnet-v1"
    assert collection.metadata["embedding_dim"] == 128


def test_collection_names_are_valid_and_distinct() -> None:
    assert collection_name("dlib-resnet-v1") == "faces__dlib-resnet-v1"
    a, b = collection_name("vgg face/v2!"), collection_name("vgg face/v2?")
    assert a != b
    for name in (a, b):
        assert name.startswith("faces__vgg-face-v2")
        assert all(c.isalnum() or c in "._-" for c in name) and name[-1].isalnum()


def test_one_shot_enrol_then_search_finds_the_person(gallery: Gallery, faces: FaceMaker) -> None:
    enrolled = gallery.enroll("Ada Lovelace", faces.face("ada"))
    gallery.enroll("Grace Hopper", faces.face("grace"))
    assert enrolled.status == "enrolled"
    assert enrolled.person.name == "Ada Lovelace" and enrolled.person.face_count == 1

    probe = faces.embedding("ada")
    best = gallery.search(probe, k=1)[0]
    assert best.person.name == "Ada Lovelace"
    assert best.face_id == enrolled.face_id
    assert best.chip_path.is_file()
    stored = gallery.person_embeddings(enrolled.person.id)[0]
    # The engine's Euclidean distance, not Chroma's squared one.
    assert best.distance == pytest.approx(float(np.linalg.norm(probe - stored)), abs=1e-6)
    assert best.distance < 0.6


def test_people_listed_by_name_with_faces_and_thumbnails(
    gallery: Gallery, faces: FaceMaker
) -> None:
    for name in ("zoe", "Bob", "alice"):
        gallery.enroll(name, faces.face(name))
    gallery.enroll("Bob", faces.face("Bob"))
    people = gallery.people()
    assert [p.name for p in people] == ["alice", "Bob", "zoe"]
    assert [p.face_count for p in people] == [1, 2, 1]
    bob_faces = gallery.faces_of(people[1].id)
    assert len(bob_faces) == 2
    assert all(f.chip_path.is_file() and f.model_id == DEFAULT_MODEL_ID for f in bob_faces)
    assert len(bob_faces[0].landmarks) == 5 and len(bob_faces[0].box) == 4


def test_stored_face_keeps_what_was_enrolled(gallery: Gallery, faces: FaceMaker) -> None:
    from PIL import Image

    new = faces.face("ada")
    face = gallery.get_face(gallery.enroll("Ada", new).face_id)
    assert np.array_equal(np.asarray(Image.open(face.chip_path)), new.chip)  # lossless
    assert face.image_sha256 == new.image_sha256
    assert face.box == pytest.approx(new.box)
    assert np.allclose(face.landmarks, new.landmarks)
    assert face.score == pytest.approx(new.score)
    assert np.array_equal(gallery.person_embeddings(face.person_id)[0], new.embedding)


def test_names_are_unique_ignoring_case_and_spaces(gallery: Gallery, faces: FaceMaker) -> None:
    ada = gallery.add_person("Ada  Lovelace", notes="first programmer")
    assert ada.name == "Ada Lovelace"
    assert gallery.find_person("ada lovelace") == ada
    with pytest.raises(NameTaken):
        gallery.add_person("ADA LOVELACE")
    # Enrolling by name reaches the same person instead of creating a second one.
    result = gallery.enroll("ada lovelace", faces.face("ada"))
    assert result.person.id == ada.id
    assert gallery.count_people() == 1
    with pytest.raises(ValueError):
        gallery.add_person("   ")


def test_enrol_by_id_person_or_refuses_unknown(gallery: Gallery, faces: FaceMaker) -> None:
    ada = gallery.add_person("Ada")
    assert gallery.enroll(ada.id, faces.face("ada")).person.face_count == 1
    assert gallery.enroll(ada, faces.face("ada")).person.face_count == 2
    with pytest.raises(PersonNotFound):
        gallery.enroll("Nobody", faces.face("x"), create=False)
    assert gallery.find_person("Nobody") is None
    with pytest.raises(PersonNotFound):  # a stale id is not taken for a new name
        gallery.enroll("0123456789abcdef" * 2, faces.face("x"))
    assert gallery.count_people() == 1


def test_rename(gallery: Gallery, faces: FaceMaker) -> None:
    ada = gallery.enroll("Ada", faces.face("ada")).person
    gallery.add_person("Grace")
    renamed = gallery.rename(ada.id, "Ada Lovelace")
    assert renamed.name == "Ada Lovelace" and renamed.face_count == 1
    assert gallery.rename(ada.id, "ada lovelace").name == "ada lovelace"  # case-only change
    with pytest.raises(NameTaken):
        gallery.rename(ada.id, "grace")
    with pytest.raises(PersonNotFound):
        gallery.rename("0" * 32, "x")
    assert gallery.search(faces.embedding("ada"), k=1)[0].person.name == "ada lovelace"


def test_merge_moves_every_face_and_removes_the_other(gallery: Gallery, faces: FaceMaker) -> None:
    keep = gallery.enroll("Ada", faces.face("ada")).person
    absorb = gallery.add_person("A. Lovelace", notes="from the 1843 notes")
    moved = [gallery.enroll(absorb, faces.face("ada")).face_id for _ in range(2)]

    merged = gallery.merge(keep.id, absorb.id)
    assert merged.face_count == 3
    assert "1843" in merged.notes
    with pytest.raises(PersonNotFound):
        gallery.get_person(absorb.id)
    assert not (gallery.chips_dir / absorb.id).exists()
    for face_id in moved:
        face = gallery.get_face(face_id)
        assert face.person_id == keep.id and face.chip_path.is_file()
    records = gallery._index.collection.get(ids=moved, include=["metadatas"])
    assert {m["person_id"] for m in records["metadatas"]} == {keep.id}
    assert {m.person.id for m in gallery.search(faces.embedding("ada"), k=3)} == {keep.id}
    assert_consistent(gallery)
    with pytest.raises(ValueError):
        gallery.merge(keep.id, keep.id)


def test_delete_face(gallery: Gallery, faces: FaceMaker) -> None:
    first = gallery.enroll("Ada", faces.face("ada"))
    second = gallery.enroll("Ada", faces.face("ada"))
    gallery.delete_face(first.face_id)
    assert [f.id for f in gallery.faces_of(first.person.id)] == [second.face_id]
    assert first.face_id not in chroma_ids(gallery)
    with pytest.raises(FaceNotFound):
        gallery.get_face(first.face_id)
    with pytest.raises(FaceNotFound):
        gallery.delete_face(first.face_id)
    assert_consistent(gallery, {second.face_id})


def test_delete_person_leaves_nothing(gallery: Gallery, faces: FaceMaker) -> None:
    ada = gallery.add_person("Ada")
    ada_faces = {gallery.enroll(ada, faces.face("ada")).face_id for _ in range(3)}
    grace = gallery.enroll("Grace", faces.face("grace"))
    assert len(chip_files(gallery)) == 4

    gallery.delete_person(ada.id)

    # Database: no person, no face rows.
    with pytest.raises(PersonNotFound):
        gallery.get_person(ada.id)
    import sqlite3

    with sqlite3.connect(gallery.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM people WHERE id=?", (ada.id,)).fetchone()[0] == 0
        assert (
            db.execute("SELECT COUNT(*) FROM faces WHERE person_id=?", (ada.id,)).fetchone()[0] == 0
        )
    # Chroma: none of the embeddings, by id and by metadata.
    assert chroma_ids(gallery) == {grace.face_id}
    assert not gallery._index.collection.get(where={"person_id": ada.id}, include=[])["ids"]
    assert gallery._index.count() == 1
    # Disk: no folder, no chip.
    assert not (gallery.chips_dir / ada.id).exists()
    assert {p.stem for p in chip_files(gallery)} == {grace.face_id}
    assert ada_faces.isdisjoint(m.face_id for m in gallery.search(faces.embedding("ada"), k=5))
    assert_consistent(gallery, {grace.face_id})


def test_duplicate_image_is_skipped(gallery: Gallery, faces: FaceMaker) -> None:
    photo = faces.face("ada", image=b"the same jpeg bytes")
    first = gallery.enroll("Ada", photo)
    again = gallery.enroll("Someone Else", photo)
    assert again.status == "duplicate"
    assert again.face_id == first.face_id and again.person.id == first.person.id
    assert gallery.find_person("Someone Else") is None  # nothing written, not even the person
    assert gallery.count_faces() == 1 and len(chip_files(gallery)) == 1

    # Another face of the same group photo (a box elsewhere) is a different face.
    other = NewFace(**{**photo.__dict__, "box": (300.0, 40.0, 399.0, 139.0)})
    assert gallery.enroll("Grace", other).status == "enrolled"
    assert_consistent(gallery)


def test_model_mismatch_refused_on_enrol(gallery: Gallery, faces: FaceMaker) -> None:
    with pytest.raises(ModelMismatch, match="never mixed"):
        gallery.enroll("Ada", faces.face("ada", model_id="vgg-face"))
    with pytest.raises(ModelMismatch, match="512-d"):
        gallery.enroll("Ada", faces.face("ada", dim=512))
    assert gallery.count_people() == 0 and gallery.count_faces() == 0
    assert chroma_ids(gallery) == set() and chip_files(gallery) == set()


def test_model_mismatch_refused_on_search(gallery: Gallery, faces: FaceMaker) -> None:
    gallery.enroll("Ada", faces.face("ada"))
    probe = faces.embedding("ada")
    with pytest.raises(ModelMismatch):
        gallery.search(probe, model_id="vgg-face")
    with pytest.raises(ModelMismatch):
        gallery.nearest_people(probe, model_id="vgg-face")
    with pytest.raises(ModelMismatch):
        gallery.search(np.zeros(512, np.float32))
    assert gallery.search(probe, model_id=DEFAULT_MODEL_ID)[0].person.name == "Ada"


def test_other_model_gets_its_own_collection(open_gallery, faces: FaceMaker, tmp_path) -> None:
    folder = tmp_path / "gallery"
    dlib_gallery = open_gallery(folder)
    ada = dlib_gallery.enroll("Ada", faces.face("ada")).person
    vgg = open_gallery(folder, model_id="vgg-face", embedding_dim=512)
    assert vgg._index.collection.name == "faces__vgg-face"
    assert vgg.count_faces() == 0 and vgg.get_person(ada.id).face_count == 0
    vgg_face = faces.face("ada", model_id="vgg-face", dim=512)
    vgg.enroll(ada.id, vgg_face)
    assert vgg.search(vgg_face.embedding, k=5)[0].person.id == ada.id
    assert dlib_gallery.count_faces() == 1  # the models' faces never mix
    # Deleting the person removes the embeddings of every model.
    dlib_gallery.delete_person(ada.id)
    sync_index(vgg)  # the erasure rebuilt vgg's collection: a search would reload it first
    assert vgg._index.count() == 0 and dlib_gallery._index.count() == 0
    with pytest.raises(ModelMismatch):  # the same model id with another dimension
        open_gallery(folder, model_id="vgg-face", embedding_dim=256)


def test_search_is_exact_against_brute_force(gallery: Gallery) -> None:
    maker = FaceMaker(seed=7)
    for i in range(40):
        for _ in range(3):
            gallery.enroll(f"person {i}", maker.face(f"p{i}"))
    ids = [m for p in gallery.people() for m in (f.id for f in gallery.faces_of(p.id))]
    vectors = np.concatenate([gallery.person_embeddings(p.id) for p in gallery.people()])
    for i in range(20):
        probe = maker.embedding(f"p{i}", spread=0.05)
        exact = np.linalg.norm(vectors.astype(np.float64) - probe, axis=1)
        order = np.argsort(exact)[:10]
        found = gallery.search(probe, k=10)
        assert [m.face_id for m in found] == [ids[j] for j in order]
        assert [m.distance for m in found] == pytest.approx(exact[order], abs=1e-9)


def test_nearest_people_gives_each_persons_best_face(gallery: Gallery, faces: FaceMaker) -> None:
    for name in ("ada", "grace", "alan"):
        for _ in range(4):
            gallery.enroll(name, faces.face(name))
    probe = faces.embedding("grace")
    people = gallery.nearest_people(probe, k=5)
    assert people[0].person.name == "grace"
    assert sorted(m.person.name for m in people) == ["ada", "alan", "grace"]
    assert [m.distance for m in people] == sorted(m.distance for m in people)
    best_grace = min(gallery.search(probe, k=12), key=lambda m: m.distance)
    assert people[0].face_id == best_grace.face_id


def test_search_within_one_person(gallery: Gallery, faces: FaceMaker) -> None:
    ada = gallery.add_person("Ada")
    for _ in range(3):
        gallery.enroll(ada, faces.face("ada"))
    gallery.enroll("Grace", faces.face("grace"))
    probe = faces.embedding("grace")
    matches = gallery.search(probe, k=10, person_id=ada.id)
    assert len(matches) == 3 and {m.person.id for m in matches} == {ada.id}
    exact = np.linalg.norm(gallery.person_embeddings(ada.id).astype(np.float64) - probe, axis=1)
    assert [m.distance for m in matches] == pytest.approx(sorted(exact))
    with pytest.raises(PersonNotFound):
        gallery.search(probe, person_id="f" * 32)


def test_empty_gallery_search(gallery: Gallery, faces: FaceMaker) -> None:
    assert gallery.search(faces.embedding("x")) == []
    assert gallery.nearest_people(faces.embedding("x")) == []
    assert gallery.count_faces() == 0


def test_reopen_keeps_everything(open_gallery, faces: FaceMaker, tmp_path) -> None:
    first = open_gallery(tmp_path / "g")
    result = first.enroll("Ada", faces.face("ada"))
    first.close()
    again = open_gallery(tmp_path / "g")
    assert not again.last_reconcile.changed
    assert again.search(faces.embedding("ada"), k=1)[0].face_id == result.face_id
    assert again.location == str(tmp_path / "g")


def test_open_uses_settings_data_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import Settings

    monkeypatch.delenv("CHROMA_HOST", raising=False)
    settings = Settings(data_dir=tmp_path, max_pixels=1, detect_max_side=1, device=None)
    with Gallery.open(settings) as gallery:
        assert gallery.data_dir == tmp_path / "gallery"
        assert gallery.model_id == DEFAULT_MODEL_ID
        assert (tmp_path / "gallery" / "gallery.db").is_file()
        assert (tmp_path / "gallery" / "chroma").is_dir()


def test_faces_from_image_finds_a_file_already_enrolled(gallery: Gallery, faces: FaceMaker) -> None:
    """What bulk enrolment asks before decoding a file: is this very file already in?"""
    photo = faces.face("ada", image=b"group photo bytes")
    ada = gallery.enroll("Ada", photo)
    other = NewFace(**{**photo.__dict__, "box": (300.0, 40.0, 399.0, 139.0)})
    grace = gallery.enroll("Grace", other)
    sha = hashlib.sha256(b"group photo bytes").hexdigest()

    found = gallery.faces_from_image(sha)
    assert {(f.id, f.person_id) for f in found} == {
        (ada.face_id, ada.person.id),
        (grace.face_id, grace.person.id),
    }
    assert all(f.image_sha256 == sha for f in found)
    assert gallery.faces_from_image(hashlib.sha256(b"never seen").hexdigest()) == []
    gallery.delete_face(ada.face_id)
    assert [f.id for f in gallery.faces_from_image(sha)] == [grace.face_id]
