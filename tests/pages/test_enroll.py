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


def _photos_key(at) -> str:
    """The photo uploader's key now: it changes each time the form is cleared."""
    return next(u.key for u in at.file_uploader if u.label.startswith("Photos ("))


def test_enrol_a_photo_as_a_new_person_then_more_for_the_same_person(at, astronaut):
    upload(at, "enroll", ("astronaut.png", png(astronaut)))
    assert not at.exception, at.exception
    assert at.selectbox(key="enroll_person").value == "New person…"
    at.text_input(key="enroll_new_name").input("Eileen Collins").run()
    at.button[0].click().run()
    assert at.success[0].value == "Enrolled astronaut.png as Eileen Collins."
    assert _people() == {"Eileen Collins": 1}

    upload(at, _photos_key(at), ("astronaut.png", png(astronaut)))  # the same photo again
    eileen = resources.gallery().find_person("Eileen Collins")
    at.selectbox(key="enroll_person").select(eileen.id).run()
    at.button[0].click().run()
    assert "already enrolled for Eileen Collins" in at.info[0].value
    assert _people() == {"Eileen Collins": 1}

    upload(at, _photos_key(at), ("mirror.png", png(astronaut[:, ::-1])))
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


def test_the_enrol_button_counts_faces_and_the_form_clears_after_success(
    at, astronaut, grace_hopper
):
    upload(at, "enroll", ("astronaut.png", png(astronaut)))
    assert at.button[0].label == "Enrol 1 face"
    upload(at, "enroll", ("astronaut.png", png(astronaut)), ("mirror.png", png(astronaut[:, ::-1])))
    assert at.button[0].label == "Enrol 2 faces"
    at.text_input(key="enroll_new_name").input("Eileen Collins").run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        "Enrolled astronaut.png as Eileen Collins.",
        "Enrolled mirror.png as Eileen Collins.",
    ]
    assert _people() == {"Eileen Collins": 2}
    # Cleared: no photo in the uploader, so no name field and no Enrol button.
    photos = next(u for u in at.file_uploader if u.label.startswith("Photos ("))
    assert photos.key != "enroll" and not photos.value
    assert not any(b.label.startswith("Enrol ") for b in at.button)
    assert not any(t.key == "enroll_new_name" for t in at.text_input)
    # A new round starts empty, with the name not carried over.
    upload(at, photos.key, ("grace.png", png(grace_hopper)))
    assert at.button[0].label == "Enrol 1 face"
    assert at.selectbox(key="enroll_person").value == "New person…"
    assert at.text_input(key="enroll_new_name").value == ""


def test_a_refused_name_keeps_the_form(at, astronaut):
    upload(at, "enroll", ("astronaut.png", png(astronaut)))
    at.text_input(key="enroll_new_name").input("0123456789abcdef0123456789abcdef").run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.error, "a refused name says why"
    assert at.button[0].label == "Enrol 1 face"  # the photo is still there to retry
    assert at.text_input(key="enroll_new_name").value == "0123456789abcdef0123456789abcdef"


def test_bulk_takes_the_main_face_by_default_and_says_so(at, astronaut, grace_hopper):
    checkbox = at.checkbox(key="bulk_main_face")
    assert checkbox.value is True
    assert checkbox.label == "Take the main face when one clearly dominates"
    stage = np.full((600, 1600, 3), 200, np.uint8)  # Grace framed at the centre, Eileen aside
    stage[:, 544:1056] = grace_hopper
    stage[:512, :512] = astronaut
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Grace_Hopper/stage.png", png(stage))
        archive.writestr("Pair/two.png", png(np.concatenate([astronaut, astronaut], axis=1)))
    at.file_uploader(key="bulk_upload").set_value(("f.zip", buffer.getvalue(), "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Start bulk enrolment").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("Done: 2 images")
    assert not any(b.label == "Cancel" for b in at.button)  # the job is over
    assert any(
        c.value == "Photos with several faces: main face taken 1 (counted as enrolled), skipped 1."
        for c in at.caption
    )
    table = at.dataframe[0].value
    assert list(table["outcome"]) == ["main face taken", "several faces"]
    assert _people() == {"Grace Hopper": 1}


def test_bulk_with_the_box_unticked_skips_several_faces(at, astronaut, grace_hopper):
    stage = np.full((600, 1600, 3), 200, np.uint8)
    stage[:, 544:1056] = grace_hopper
    stage[:512, :512] = astronaut
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Grace_Hopper/stage.png", png(stage))
    at.checkbox(key="bulk_main_face").uncheck()
    at.file_uploader(key="bulk_upload").set_value(("f.zip", buffer.getvalue(), "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Start bulk enrolment").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Several faces"] == "1" and metrics["Enrolled"] == "0"
    assert _people() == {}
