"""Recognize page: known and unknown faces in one photo, numbered left to right, an unknown
face's nearest people muted as "not a match", the open-set threshold and its sentence, the
annotated photo to download, and the empty-gallery hint. The gallery browser moved to the
Gallery page (tests/pages/test_gallery.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from engine.evaluation.operating_point import open_set_point, save_open_set_point
from engine.open_set import open_set_threshold
from engine.permissions import OPERATOR
from tests.pages.face_app import enroll_directly, png, start_page, two_faces, upload

MODEL = "dlib-resnet-v1"


@pytest.fixture
def at(tmp_path, monkeypatch):
    return start_page("ui/pages/recognize.py", tmp_path / "data", monkeypatch)


def _face_lines(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Face ")]


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
    threshold = open_set_threshold(MODEL, 1)
    # The default is the open-set threshold for one enrolled person, and the page says so.
    assert at.slider(key="recognize_threshold").value == round(threshold.value, 2)
    sentence = "at most 1 % of strangers named, with 1 person enrolled"
    assert any(sentence in c.value for c in at.caption)
    # Eileen Collins stands on the left: face 1; Grace Hopper, not enrolled, is face 2.
    named, stranger = _face_lines(at)
    assert named.startswith("**Face 1: Eileen Collins**")
    assert float(named.rsplit("distance ", 1)[1]) < 0.1  # the very same photo
    assert stranger.startswith("**Face 2: unknown**")
    assert f"no one within the threshold {threshold.value:.2f}" in stranger
    captions = [caption for image in at.image for caption in image.captions]
    matches = [c for c in captions if c.startswith("Eileen Collins · 0.")]
    muted = [c for c in captions if c.startswith("not a match · Eileen Collins · ")]
    assert len(matches) == 1 and len(muted) == 1  # the stranger's nearest is not a match
    assert float(muted[0].rsplit("· ", 1)[1]) > threshold.value


def test_faces_are_numbered_left_to_right_not_by_detector_score(at, astronaut, grace_hopper):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    swapped = two_faces(astronaut, grace_hopper)
    height = astronaut.shape[0]
    swapped = np.concatenate(
        [swapped[:, astronaut.shape[1] :], swapped[:, : astronaut.shape[1]]], 1
    )
    assert swapped.shape[0] == height
    upload(at, "recognize", ("swapped.png", png(swapped)))
    assert not at.exception, at.exception
    first, second = _face_lines(at)
    assert first.startswith("**Face 1: unknown**")  # Grace Hopper is on the left now
    assert second.startswith("**Face 2: Eileen Collins**")


def test_the_annotated_photo_is_shown_large_and_can_be_downloaded(
    at, monkeypatch, astronaut, grace_hopper
):
    served: dict[str, bytes] = {}  # the media files the page hands to the browser, by id
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        served[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    photo = two_faces(astronaut, grace_hopper)
    upload(at, "recognize", ("two faces.png", png(photo)))
    assert not at.exception, at.exception
    [download] = at.get("download_button")
    assert download.proto.label == "Download the annotated photo (PNG)"
    annotated = Image.open(io.BytesIO(served[_file_id(download.proto.url)]))
    assert annotated.format == "PNG" and annotated.size == (photo.shape[1], photo.shape[0])
    boxes = (np.asarray(annotated.convert("RGB")) == (255, 200, 0)).all(axis=2)
    assert boxes.sum() > 500 and not (photo == (255, 200, 0)).all(axis=2).any()
    # Both faces are boxed: box colour in the left (Eileen) and right (Grace) halves.
    half = astronaut.shape[1]
    assert boxes[:, :half].sum() > 200 and boxes[:, half:].sum() > 200
    # Shown at the photo's own size across the page, not as the 320 px preview.
    shown = next(i for i in at.image if i.captions == ["two faces.png"])
    on_page = Image.open(io.BytesIO(served[_file_id(shown.proto.imgs[0].url)]))
    assert on_page.size == annotated.size


def _file_id(url: str) -> str:
    return url.rsplit("/", 1)[1].split(".", 1)[0]


def test_a_saved_open_set_point_is_the_default(tmp_path, monkeypatch, astronaut):
    point = open_set_point(
        0.42, model_id=MODEL, gallery_size=1, target_fpir=0.01, dir=0.9, fpir=0.01,
        dataset="enrolled gallery",
    )  # fmt: skip
    save_open_set_point(tmp_path / "data", point, actor=OPERATOR)
    at = start_page("ui/pages/recognize.py", tmp_path / "data", monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    assert not at.exception, at.exception
    assert at.slider(key="recognize_threshold").value == 0.42
    assert any("saved open-set point" in c.value for c in at.caption)


def test_a_moved_slider_overrides_the_open_set_threshold(at, astronaut, grace_hopper):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    at.slider(key="recognize_threshold").set_value(1.2).run()
    upload(at, "recognize", ("two.png", png(two_faces(astronaut, grace_hopper))))
    assert not at.exception, at.exception
    lines = _face_lines(at)
    assert all("Eileen Collins**" in line for line in lines)  # everyone is within 1.2


def test_a_photo_without_faces_is_a_plain_message(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    upload(at, "recognize", ("grey.png", png(np.full((120, 120, 3), 128, np.uint8))))
    assert not at.exception, at.exception
    assert at.error[0].value.startswith("No face was found")
