"""Recognize page: known and unknown faces in one photo and the empty-gallery hint. The
gallery browser moved to the Gallery page (tests/pages/test_gallery.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.pages.face_app import enroll_directly, png, start_page, two_faces, upload


@pytest.fixture
def at(tmp_path, monkeypatch):
    return start_page("ui/pages/recognize.py", tmp_path / "data", monkeypatch)


def test_an_empty_gallery_says_to_enrol_first(at):
    assert not at.exception, at.exception
    assert "gallery is empty" in at.info[0].value
    assert not at.file_uploader
    [link] = at.get("page_link")  # browsing the gallery lives on its own page
    assert link.proto.page == "gallery"


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
