"""Verify page: photo vs photo (same and different), photo vs a claimed enrolled person, the
threshold's default, and plain messages for bad input."""

from __future__ import annotations

import json

import pytest

from tests.pages.face_app import enroll_directly, png, start_page, upload

CLAIMED = "A photo and an enrolled person"


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def at(data_dir, monkeypatch):
    return start_page("ui/pages/verify.py", data_dir, monkeypatch)


def _metric(at, label: str) -> float:
    return float(next(m.value for m in at.metric if m.label == label))


def _claim(at, name: str) -> None:
    """Choose ``name`` as the claimed identity, as a user picking it from the list would."""
    box = at.selectbox(key="verify_person")
    person = next(o for o in box.options if o.startswith(f"{name} ("))
    box.select_index(box.options.index(person)).run()


def test_a_photo_and_its_mirror_image_are_the_same_person(at, astronaut):
    upload(at, "verify_a", ("astronaut.png", png(astronaut)))
    upload(at, "verify_b", ("mirror.png", png(astronaut[:, ::-1])))
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("**Same person**")
    distance = _metric(at, "Distance")
    assert 0 < distance < 0.3
    assert _metric(at, "Margin (threshold − distance)") == pytest.approx(0.6 - distance, abs=2e-3)
    assert any(c.value == "Default 0.60: model default 0.6." for c in at.caption)
    assert "128-number descriptors" in at.markdown[-1].value


def test_two_different_people_are_different(at, astronaut, grace_hopper):
    upload(at, "verify_a", ("astronaut.png", png(astronaut)))
    upload(at, "verify_b", ("grace.png", png(grace_hopper)))
    assert at.warning[0].value.startswith("**Different people**")
    assert _metric(at, "Distance") > 0.6
    at.slider(key="verify_threshold").set_value(0.9).run()  # a laxer threshold flips it
    assert at.success[0].value.startswith("**Same person**")


def test_a_photo_against_a_claimed_identity(at, astronaut, grace_hopper):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.radio(key="verify_mode").set_value(CLAIMED).run()
    upload(at, "verify_a", ("mirror.png", png(astronaut[:, ::-1])))
    _claim(at, "Eileen Collins")
    assert at.success[0].value.startswith("**Same person**")
    upload(at, "verify_a", ("grace.png", png(grace_hopper)))
    assert at.warning[0].value.startswith("**Different people**")


def test_a_claim_against_an_empty_gallery_says_to_enrol_first(at):
    at.radio(key="verify_mode").set_value(CLAIMED).run()
    assert "gallery is empty" in at.info[0].value


def test_the_saved_operating_point_is_the_default_threshold(data_dir, monkeypatch):
    data_dir.mkdir(parents=True)
    point = {
        "model_id": "dlib-resnet-v1",
        "threshold": 0.55,
        "dataset": "LFW",
        "date": "2025-03-01",
        "far": 0.001,
        "frr": 0.04,
    }
    (data_dir / "operating_point.json").write_text(json.dumps(point))
    at = start_page("ui/pages/verify.py", data_dir, monkeypatch)
    assert at.slider(key="verify_threshold").value == pytest.approx(0.55)
    assert any("saved operating point 2025-03-01" in c.value for c in at.caption)


def test_an_unreadable_file_is_a_plain_message(at):
    upload(at, "verify_a", ("notes.jpg", b"shopping list"))
    assert not at.exception, at.exception
    assert at.error[0].value.startswith("notes.jpg can't be read as an image")


def _chip_captions(at) -> list[str]:
    """The captions of every image the page drew (photos and face chips)."""
    return [img.caption for element in at.get("image") for img in element.proto.imgs]


def _gauge(at) -> dict:
    [chart] = at.get("plotly_chart")
    return json.loads(chart.proto.spec)["data"][0]


def test_a_claim_waits_for_a_chosen_person(at, astronaut, grace_hopper):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    at.radio(key="verify_mode").set_value(CLAIMED).run()
    box = at.selectbox(key="verify_person")
    assert box.value is None and box.placeholder == "Choose a person"
    assert "Eileen Collins (1 face)" in box.options  # one face, not "1 faces"
    upload(at, "verify_a", ("grace.png", png(grace_hopper)))
    assert not at.exception, at.exception
    assert not at.success and not at.warning and not at.metric  # no verdict yet
    _claim(at, "Grace Hopper")
    assert at.success[0].value.startswith("**Same person**")
    _claim(at, "Eileen Collins")
    assert at.warning[0].value.startswith("**Different people**")
    # The probe's chip under its photo once; the enrolled face once, beside the verdict.
    assert _chip_captions(at) == ["grace.png", "Face 1", "Eileen Collins, nearest enrolled"]


def test_two_photos_draw_each_chip_and_the_distance_once(at, astronaut):
    upload(at, "verify_a", ("astronaut.png", png(astronaut)))
    upload(at, "verify_b", ("mirror.png", png(astronaut[:, ::-1])))
    assert not at.exception, at.exception
    assert _chip_captions(at) == ["astronaut.png", "Face 1", "mirror.png", "Face 1"]
    assert [m.label for m in at.metric].count("Distance") == 1
    gauge = _gauge(at)
    assert gauge["mode"] == "gauge"  # no second number: the Distance metric is the number
    assert gauge["value"] == pytest.approx(_metric(at, "Distance"), abs=1e-3)


def test_the_gauge_ticks_are_zero_the_threshold_and_the_end(at, astronaut, grace_hopper):
    upload(at, "verify_a", ("astronaut.png", png(astronaut)))
    upload(at, "verify_b", ("grace.png", png(grace_hopper)))
    at.slider(key="verify_threshold").set_value(0.75).run()
    axis = _gauge(at)["gauge"]["axis"]
    end = axis["range"][1]
    assert axis["tickvals"] == pytest.approx([0.0, 0.75, end])
    assert axis["ticktext"] == ["0", "0.75", f"{end:.2f}"]
    assert _gauge(at)["gauge"]["threshold"]["value"] == pytest.approx(0.75)
