"""Bulk enrolment with the analysis in worker processes gives what ``enroll_folder`` gives: the
same outcome and reason for every file, the same faces stored with the same descriptors."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import Settings
from engine.enrol_workers import enroll_folder_in_workers
from engine.enrollment import enroll_folder
from engine.faces.pipeline import FacePipeline
from store import Gallery


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.load()


@pytest.fixture
def people(tmp_path, astronaut, grace_hopper) -> Path:
    """Every outcome but a refused name: faces, a copy, no face, two faces, not an image."""
    height = astronaut.shape[0]
    width = round(grace_hopper.shape[1] * height / grace_hopper.shape[0])
    grace = np.asarray(Image.fromarray(grace_hopper).resize((width, height)))
    files = {
        "Eileen_Collins/a.png": _png(astronaut),
        "Eileen_Collins/a_copy.png": _png(astronaut),
        "Eileen_Collins/mirrored.png": _png(np.ascontiguousarray(astronaut[:, ::-1])),
        "Eileen_Collins/notes.jpg": b"shopping list",
        "Grace_Hopper/portrait.png": _png(grace_hopper),
        "Group/two.png": _png(np.concatenate([astronaut, grace], axis=1)),
        "Nobody/grey.png": _png(np.full((120, 120, 3), 128, np.uint8)),
    }
    root = tmp_path / "people"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _gallery(folder: Path, pipeline: FacePipeline) -> Gallery:
    settings = dataclasses.replace(Settings.from_env(), data_dir=folder)
    return Gallery.open(settings, pipeline.model_id)


def _stored(gallery: Gallery) -> dict[tuple[str, str], np.ndarray]:
    """(person, image SHA-256) → embedding of every stored face."""
    return {
        (person.name, face.image_sha256): gallery.person_embeddings(person.id)[i]
        for person in gallery.people()
        for i, face in enumerate(gallery.faces_of(person.id))
    }


def test_workers_enrol_what_the_loop_in_this_process_enrols(tmp_path, pipeline, people):
    with _gallery(tmp_path / "here", pipeline) as here:
        expected = enroll_folder(pipeline, here, people)
        expected_faces = _stored(here)
    with _gallery(tmp_path / "workers", pipeline) as there:
        summary = enroll_folder_in_workers(pipeline, there, people, workers=2)
        faces = _stored(there)

    assert [(o.item, o.outcome, o.reason, o.main_face) for o in summary.outcomes] == [
        (o.item, o.outcome, o.reason, o.main_face) for o in expected.outcomes
    ]
    assert summary.counts == {
        "enrolled": 3,
        "duplicate": 1,
        "no_face": 1,
        "several_faces": 1,
        "unreadable": 1,
        "bad_name": 0,
    }
    assert faces.keys() == expected_faces.keys()
    for key, embedding in faces.items():  # one torch thread there, two here: rounding only
        np.testing.assert_allclose(embedding, expected_faces[key], atol=1e-4)


def test_a_rerun_in_workers_finds_every_file_enrolled(tmp_path, pipeline, people):
    with _gallery(tmp_path / "gallery", pipeline) as gallery:
        enroll_folder(pipeline, gallery, people)
        rerun = enroll_folder_in_workers(pipeline, gallery, people, workers=1)
        assert rerun.counts["enrolled"] == 0 and rerun.count("duplicate") == 4
        assert gallery.count_faces() == 3
