"""Verification decisions, default thresholds, identification and bulk enrolment, run on the
real face pipeline and a real gallery in a temporary folder."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import Settings
from engine.enrollment import (
    ArchiveLimits,
    enroll_folder,
    image_sha256,
    person_name_from_folder,
)
from engine.errors import ModelMismatch, NoFaceFound
from engine.evaluation.operating_point import OPERATING_POINT_FILE
from engine.faces.pipeline import Face, FacePipeline
from engine.safe_zip import InvalidArchive
from engine.verification import (
    EmptyGallery,
    Threshold,
    default_threshold,
    face_distance,
    identify_faces,
    verify_claim,
    verify_embeddings,
)
from store import Gallery, NewFace

MODEL = "dlib-resnet-v1"
DEFAULT = Threshold(0.6, "model default 0.6")


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _settings(data_dir: Path) -> Settings:
    return dataclasses.replace(Settings.from_env(), data_dir=data_dir)


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.load()


@pytest.fixture(scope="module")
def faces(pipeline, astronaut, grace_hopper) -> dict[str, Face]:
    """One analyzed face per photo, computed once for the module."""
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    return {
        name: pipeline.analyze(image)[0]
        for name, image in (("astronaut", astronaut), ("mirror", mirrored), ("grace", grace_hopper))
    }


@pytest.fixture
def gallery(tmp_path):
    g = Gallery.open(_settings(tmp_path / "data"))
    yield g
    g.close()


def _enroll(gallery: Gallery, name: str, face: Face, tag: str) -> None:
    sha = hashlib.sha256(tag.encode()).hexdigest()
    gallery.enroll(name, NewFace.from_face(face, sha, MODEL))


# --- thresholds ---------------------------------------------------------------------------------
def _write_point(data_dir: Path, **point) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / OPERATING_POINT_FILE).write_text(json.dumps(point))


def test_default_threshold_is_the_models_own_without_a_saved_point(tmp_path):
    assert default_threshold(_settings(tmp_path), MODEL) == (0.6, "model default 0.6")


def test_a_saved_operating_point_for_the_model_is_used(tmp_path):
    _write_point(
        tmp_path,
        model_id=MODEL,
        threshold=0.54,
        dataset="LFW",
        date="2025-03-01",
        far=0.001,
        frr=0.035,
    )
    value, source = default_threshold(_settings(tmp_path), MODEL)
    assert value == 0.54
    assert source.startswith("saved operating point 2025-03-01")
    assert "LFW" in source and "FAR 0.10%" in source and "FRR 3.50%" in source


def test_an_operating_point_of_another_model_is_ignored(tmp_path):
    _write_point(tmp_path, model_id="vgg-face", threshold=0.3, dataset="LFW", date="2025-03-01")
    assert default_threshold(_settings(tmp_path), MODEL) == (0.6, "model default 0.6")


def test_a_damaged_operating_point_falls_back_and_says_so(tmp_path):
    (tmp_path / OPERATING_POINT_FILE).write_text("{not json")
    value, source = default_threshold(_settings(tmp_path), MODEL)
    assert value == 0.6 and "unreadable" in source


def test_unknown_model_has_no_default_threshold(tmp_path):
    with pytest.raises(ModelMismatch):
        default_threshold(_settings(tmp_path), "no-such-model")


# --- decisions ----------------------------------------------------------------------------------
def test_verify_embeddings_decides_on_the_euclidean_distance():
    a, b = np.zeros(128, np.float32), np.zeros(128, np.float32)
    b[:2] = (0.3, 0.4)  # distance 0.5
    inside = verify_embeddings(a, b, 0.6, MODEL, "model default 0.6")
    assert inside.distance == pytest.approx(0.5)
    assert inside.same and inside.margin == pytest.approx(0.1)
    assert inside.threshold_source == "model default 0.6" and inside.model_id == MODEL
    outside = verify_embeddings(a, b, 0.45, MODEL)
    assert not outside.same and outside.margin == pytest.approx(-0.05)
    assert verify_embeddings(a, a, 0.0, MODEL).same  # at the threshold counts as a match


def test_descriptors_of_different_sizes_are_a_model_mismatch():
    with pytest.raises(ModelMismatch):
        face_distance(np.zeros(128), np.zeros(2622))


def test_real_faces_same_and_different(faces):
    same = verify_embeddings(faces["astronaut"].embedding, faces["mirror"].embedding, 0.6, MODEL)
    different = verify_embeddings(
        faces["astronaut"].embedding, faces["grace"].embedding, 0.6, MODEL
    )
    assert same.same and same.distance < 0.3
    assert not different.same and different.distance > 0.6


def test_identify_names_known_faces_and_calls_the_rest_unknown(gallery, faces):
    _enroll(gallery, "Eileen Collins", faces["astronaut"], "astronaut")
    result = identify_faces(gallery, [faces["mirror"], faces["grace"]], DEFAULT, MODEL, top_k=3)
    known, stranger = result.faces
    assert known.known and known.name == "Eileen Collins" and known.best.distance < 0.3
    assert not stranger.known and stranger.name == "unknown"
    assert stranger.best.person.name == "Eileen Collins" and stranger.best.distance > 0.6
    assert result.threshold == 0.6 and result.threshold_source == "model default 0.6"


def test_identify_refuses_an_empty_gallery_and_an_image_without_faces(gallery, faces):
    with pytest.raises(EmptyGallery):
        identify_faces(gallery, [faces["astronaut"]], DEFAULT, MODEL)
    with pytest.raises(NoFaceFound):
        identify_faces(gallery, [], DEFAULT, MODEL)


def test_verify_claim_uses_the_claimed_persons_nearest_face(gallery, faces):
    _enroll(gallery, "Eileen Collins", faces["astronaut"], "astronaut")
    _enroll(gallery, "Grace Hopper", faces["grace"], "grace")
    eileen = gallery.find_person("Eileen Collins")
    genuine = verify_claim(gallery, faces["mirror"].embedding, eileen.id, DEFAULT, MODEL)
    impostor = verify_claim(gallery, faces["grace"].embedding, eileen.id, DEFAULT, MODEL)
    assert genuine.result.same and genuine.match.person.id == eileen.id
    assert not impostor.result.same and impostor.match.person.id == eileen.id
    assert genuine.match.chip_path.is_file()


# --- bulk enrolment -----------------------------------------------------------------------------
def test_image_sha256_of_bytes_and_file_agree(tmp_path):
    data = b"\x89PNG fake"
    (tmp_path / "x.png").write_bytes(data)
    assert (
        image_sha256(data) == image_sha256(tmp_path / "x.png") == hashlib.sha256(data).hexdigest()
    )


def test_person_names_come_from_folder_names():
    assert person_name_from_folder("Eileen_Collins") == "Eileen Collins"
    assert person_name_from_folder("  Grace  Hopper ") == "Grace Hopper"


@pytest.fixture(scope="module")
def two_faces(astronaut, grace_hopper) -> np.ndarray:
    height = astronaut.shape[0]
    width = round(grace_hopper.shape[1] * height / grace_hopper.shape[0])
    grace = np.asarray(Image.fromarray(grace_hopper).resize((width, height)))
    return np.concatenate([astronaut, grace], axis=1)


def test_enroll_folder_counts_every_outcome(
    tmp_path, gallery, pipeline, astronaut, grace_hopper, two_faces
):
    root = tmp_path / "faces"
    files = {
        "Eileen_Collins/a.png": _png(astronaut),
        "Eileen_Collins/a_copy.png": _png(astronaut),  # same bytes: a duplicate
        "Eileen_Collins/notes.jpg": b"shopping list",
        "Grace_Hopper/portrait.png": _png(grace_hopper),
        "Group/two.png": _png(two_faces),
        "Nobody/grey.png": _png(np.full((120, 120, 3), 128, np.uint8)),
        "README.txt": b"not a person",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    progress: list[tuple[int, int, str]] = []

    summary = enroll_folder(
        pipeline, gallery, root, progress=lambda d, t, o: progress.append((d, t, o.outcome))
    )

    assert summary.counts == {
        "enrolled": 2,
        "duplicate": 1,
        "no_face": 1,
        "several_faces": 1,
        "unreadable": 1,
        "bad_name": 0,
    }
    assert summary.total == 6 and not summary.cancelled
    assert summary.people == ["Eileen Collins", "Grace Hopper"]
    by_item = {o.item: o for o in summary.outcomes}
    assert by_item["Group/two.png"].reason.startswith("2 faces")
    assert "already enrolled as Eileen Collins" in by_item["Eileen_Collins/a_copy.png"].reason
    assert by_item["Eileen_Collins/notes.jpg"].outcome == "unreadable"
    assert summary.ignored == ("README.txt: not inside a person folder",)
    assert [p[0] for p in progress] == [1, 2, 3, 4, 5, 6] and {p[1] for p in progress} == {6}
    assert gallery.count_faces() == 2
    assert {p.name: p.face_count for p in gallery.people()} == {
        "Eileen Collins": 1,
        "Grace Hopper": 1,
    }


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_enroll_zip_under_a_wrapper_folder(gallery, pipeline, astronaut):
    archive = _zip(
        {"faces/Eileen_Collins/a.png": _png(astronaut), "faces/Eileen_Collins/b.jpg": b"junk"}
    )
    summary = enroll_folder(pipeline, gallery, archive)
    assert summary.enrolled == 1 and summary.unreadable == 1 and summary.total == 2
    assert [p.name for p in gallery.people()] == ["Eileen Collins"]


@pytest.mark.parametrize("bad_name", ["../escape/a.png", "/etc/Eileen/a.png", "P/../../a.png"])
def test_zip_with_an_escaping_entry_is_refused_whole(gallery, pipeline, astronaut, bad_name):
    archive = _zip({"Eileen_Collins/a.png": _png(astronaut), bad_name: _png(astronaut)})
    with pytest.raises(InvalidArchive, match="outside the archive"):
        enroll_folder(pipeline, gallery, archive)
    assert gallery.count_faces() == 0


def test_zip_bombs_are_refused_before_reading(gallery, pipeline):
    bomb = _zip({"P/big.png": bytes(5_000_000)})  # 5 MB of zeros, a few KB compressed
    assert len(bomb) < 50_000
    with pytest.raises(InvalidArchive, match="unpack"):
        enroll_folder(pipeline, gallery, bomb, limits=ArchiveLimits(max_total_bytes=1_000_000))
    many = _zip({f"P/{i}.png": b"x" for i in range(11)})
    with pytest.raises(InvalidArchive, match="11 files"):
        enroll_folder(pipeline, gallery, many, limits=ArchiveLimits(max_entries=10))


def test_not_a_folder_nor_a_zip(tmp_path, gallery, pipeline):
    with pytest.raises(InvalidArchive):
        enroll_folder(pipeline, gallery, tmp_path / "missing")
    with pytest.raises(InvalidArchive):
        enroll_folder(pipeline, gallery, b"plain text, not a zip")


def test_should_stop_cancels_between_files(tmp_path, gallery, pipeline, astronaut, grace_hopper):
    root = tmp_path / "faces"
    for person, image in (("A", astronaut), ("B", grace_hopper), ("C", astronaut[:, ::-1])):
        (root / person).mkdir(parents=True)
        (root / person / "x.png").write_bytes(_png(np.ascontiguousarray(image)))
    done: list[str] = []
    summary = enroll_folder(
        pipeline,
        gallery,
        root,
        progress=lambda d, t, o: done.append(o.item),
        should_stop=lambda: len(done) >= 1,
    )
    assert summary.cancelled and summary.total == 3
    assert [o.item for o in summary.outcomes] == ["A/x.png"]
    assert gallery.count_faces() == 1


def test_faces_are_put_in_reading_order_left_to_right(faces):
    from engine.faces.types import Box
    from engine.verification import left_to_right

    def at(face: Face, left: float, top: float) -> Face:
        return dataclasses.replace(face, box=Box(left, top, left + 50, top + 50))

    right = at(faces["grace"], 300, 10)
    left_low = at(faces["astronaut"], 20, 200)
    left_high = at(faces["mirror"], 20, 100)
    assert left_to_right([right, left_low, left_high]) == [left_high, left_low, right]


def test_identify_numbers_faces_in_the_order_given(gallery, faces):
    _enroll(gallery, "Eileen Collins", faces["astronaut"], "astronaut")
    result = identify_faces(gallery, [faces["grace"], faces["mirror"]], DEFAULT, MODEL)
    assert [f.index for f in result.faces] == [0, 1]
    assert [f.name for f in result.faces] == ["unknown", "Eileen Collins"]
