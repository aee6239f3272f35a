"""Enroll page: photos into the gallery (new or existing person, picking among several faces),
plain messages for bad input, and bulk enrolment of a zip with its summary."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from tests.pages.face_app import png, start_page, two_faces, upload
from ui.widgets import resources


@pytest.fixture
def at(tmp_path, monkeypatch):
    return start_page("ui/pages/enroll.py", tmp_path / "data", monkeypatch)


def _people() -> dict[str, int]:
    return {p.name: p.face_count for p in resources.gallery().people()}


def test_enrol_a_photo_as_a_new_person_then_more_for_the_same_person(at, astronaut):
    upload(at, "enroll", ("astronaut.png", png(astronaut)))
    assert not at.exception, at.exception
    assert at.selectbox(key="enroll_person").value == "➕ New person"
    at.text_input(key="enroll_new_name").input("Eileen Collins").run()
    at.button[0].click().run()
    assert at.success[0].value == "Enrolled astronaut.png as Eileen Collins."
    assert _people() == {"Eileen Collins": 1}

    at.button[0].click().run()  # the same photo again
    assert "already enrolled for Eileen Collins" in at.info[0].value
    assert _people() == {"Eileen Collins": 1}

    upload(at, "enroll", ("mirror.png", png(astronaut[:, ::-1])))
    eileen = resources.gallery().find_person("Eileen Collins")
    at.selectbox(key="enroll_person").select(eileen.id).run()  # options are ids, shown as names
    at.button[0].click().run()
    assert at.success[0].value == "Enrolled mirror.png as Eileen Collins."
    assert _people() == {"Eileen Collins": 2}

    at.switch_page("ui/pages/gallery.py").run()
    assert list(at.dataframe[0].value["name"]) == ["Eileen Collins"]


def test_with_several_faces_the_user_picks_one(at, astronaut, grace_hopper):
    upload(at, "enroll", ("two.png", png(two_faces(astronaut, grace_hopper))))
    [pick] = at.radio
    assert pick.label == "2 faces in two.png: which one?"
    assert len(at.image) >= 2  # the annotated photo and the chips
    [analyzed] = at.session_state["face_analyses"].values()
    second = analyzed.faces[1]  # not the default pick, so ignoring the choice would fail
    name = "Grace Hopper" if second.box.left > astronaut.shape[1] else "Eileen Collins"
    pick.set_value(1).run()
    at.text_input(key="enroll_new_name").input(name).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    person = resources.gallery().find_person(name)
    [face] = resources.gallery().faces_of(person.id)
    assert face.box == (second.box.left, second.box.top, second.box.right, second.box.bottom)


def test_no_face_and_unreadable_files_get_plain_messages(at):
    grey = png(np.full((120, 120, 3), 128, np.uint8))
    upload(at, "enroll", ("grey.png", grey), ("notes.jpg", b"shopping list"))
    assert not at.exception, at.exception
    errors = sorted(e.value for e in at.error)
    assert errors[0].startswith("No face was found in grey.png")
    assert errors[1].startswith("notes.jpg can't be read as an image")
    assert not any(b.label.startswith("Enrol ") for b in at.button)


def test_bulk_zip_enrolment_shows_a_summary(at, astronaut):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Eileen_Collins/a.png", png(astronaut))
        archive.writestr("Eileen_Collins/b.jpg", b"not an image")
        archive.writestr("readme.txt", b"hello")
    at.file_uploader(key="bulk_upload").set_value(
        ("faces.zip", buffer.getvalue(), "application/zip")
    )
    at.run()
    next(b for b in at.button if b.label == "Start bulk enrolment").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("Done: 2 images")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Enrolled"] == "1" and metrics["Unreadable"] == "1"
    assert metrics["Skipped as duplicate"] == "0" and metrics["Several faces"] == "0"
    assert list(at.dataframe[0].value["file"]) == ["Eileen_Collins/b.jpg"]
    assert _people() == {"Eileen Collins": 1}


def test_a_zip_with_an_escaping_path_is_refused(at, astronaut):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../Eileen_Collins/a.png", png(astronaut))
    at.file_uploader(key="bulk_upload").set_value(
        ("evil.zip", buffer.getvalue(), "application/zip")
    )
    at.run()  # refused as it is unpacked, before anything could be enrolled
    assert "points outside the archive" in at.error[0].value
    assert next(b for b in at.button if b.label == "Start bulk enrolment").disabled
    assert _people() == {}
