"""Recognize page: known and unknown faces in one photo, the empty-gallery hint, and the
gallery browser's rename, face removal and confirmed person deletion."""

from __future__ import annotations

import numpy as np
import pytest

from pages import resources
from tests.pages.face_app import enroll_directly, png, start_page, two_faces, upload


@pytest.fixture
def at(tmp_path, monkeypatch):
    return start_page("pages/recognize.py", tmp_path / "data", monkeypatch)


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_an_empty_gallery_says_to_enrol_first(at):
    assert not at.exception, at.exception
    assert "gallery is empty" in at.info[0].value
    assert not at.file_uploader


def test_a_known_face_is_named_and_a_stranger_is_unknown(at, astronaut, grace_hopper):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    upload(at, "recognize", ("two.png", png(two_faces(astronaut, grace_hopper))))
    assert not at.exception, at.exception
    lines = sorted(m.value for m in at.markdown if m.value.startswith("**Face "))
    assert len(lines) == 2
    named = next(line for line in lines if "Eileen Collins**" in line)
    stranger = next(line for line in lines if "unknown**" in line)
    assert float(named.rsplit("distance ", 1)[1]) < 0.1  # the very same photo
    assert "nearest: Eileen Collins" in stranger and "over the threshold 0.60" in stranger
    captions = [caption for image in at.image for caption in image.captions]
    assert any(c.startswith("Eileen Collins · 0.") for c in captions)  # match thumbnails


def test_a_photo_without_faces_is_a_plain_message(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    upload(at, "recognize", ("grey.png", png(np.full((120, 120, 3), 128, np.uint8))))
    assert not at.exception, at.exception
    assert at.error[0].value.startswith("No face was found")


def test_rename_then_delete_a_person_after_confirming(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    person_id = at.selectbox(key="browse_person").value
    at.text_input(key=f"rename_{person_id}").input("Eileen M. Collins").run()
    _button(at, "Rename").click().run()
    assert at.success[0].value == "Renamed Eileen Collins to Eileen M. Collins."
    assert list(at.dataframe[0].value["name"]) == ["Eileen M. Collins"]

    _button(at, "Delete Eileen M. Collins…").click().run()
    assert "cannot be undone" in at.warning[0].value
    assert resources.gallery().count_people() == 1  # asking is not deleting
    _button(at, "Yes, delete").click().run()
    assert at.success[0].value == "Deleted Eileen M. Collins."
    assert "gallery is empty" in at.info[0].value
    assert resources.gallery().count_people() == 0


def test_cancelling_a_deletion_keeps_the_person_and_a_face_can_be_removed(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Eileen Collins", astronaut[:, ::-1], "mirror")
    at.run()
    _button(at, "Delete Eileen Collins…").click().run()
    _button(at, "Cancel").click().run()
    assert not at.warning and resources.gallery().count_faces() == 2

    _button(at, "Remove").click().run()
    _button(at, "Yes, delete").click().run()
    assert at.success[0].value == "Removed a face of Eileen Collins."
    assert resources.gallery().count_faces() == 1
