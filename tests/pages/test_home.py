"""The app starts, navigates to Home, and shows the engine's status and model cards; the demo
path enrols the astronaut, verifies her mirror image and recognizes her in three clicks, and a
visitor who may not enrol is told so and can still verify."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.permissions import PERMISSIONS, Action, Role
from tests.hosted_app import USER_PASSWORD, app_as
from tests.pages.face_app import start_page
from ui.widgets import resources

APP = str(Path(__file__).resolve().parents[2] / "app.py")
HOME = "ui/pages/home.py"


def test_home_shows_device_models_and_versions():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Vision Lab"
    assert any(m.label == "Device" for m in at.metric)
    models = at.table[0].value  # a static table: long cells wrap instead of being clipped
    assert set(models["id"]) == {
        "dlib-mmod-human-face-detector",
        "dlib-shape-predictor-5",
        "dlib-resnet-v1",
    }
    assert "99.38% LFW" in set(models["published"])
    assert list(models.columns) == ["model", "id", "kind", "published", "input"]
    assert any("Licence: CC0" in c.value and "from PyPI" in c.value for c in at.caption)
    versions = at.dataframe[0].value
    assert "torch" in set(versions["package"])


def test_loading_models_from_home():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="home_load_models").click().run()
    assert not at.exception, at.exception
    assert "loaded" in at.success[0].value


def _successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def test_demo_path_enrols_verifies_and_recognizes_in_three_clicks(tmp_path, monkeypatch):
    at = start_page(HOME, tmp_path / "data", monkeypatch)
    assert not at.exception, at.exception
    links = {link.proto.page.rsplit("/", 1)[-1] for link in at.get("page_link")}
    assert {"enroll", "verify", "recognize"} <= links

    at.button(key="demo_enrol").click().run()
    assert not at.exception, at.exception
    assert "Enrolled the astronaut as Eileen Collins." in _successes(at)
    gallery = resources.gallery()
    assert [p.name for p in gallery.people()] == ["Eileen Collins"]
    assert gallery.count_faces() == 1

    at.button(key="demo_verify").click().run()
    [verdict] = [s for s in _successes(at) if "mirror image" in s]
    assert verdict.startswith("**Same person**: the astronaut and her mirror image (distance 0.")
    assert "Enrolled the astronaut as Eileen Collins." in _successes(at)  # step 1 stays shown

    at.button(key="demo_recognize").click().run()
    assert not at.exception, at.exception
    [found] = [s for s in _successes(at) if s.startswith("2 faces found.")]
    assert "(left): **Eileen Collins**, distance 0." in found
    assert "distance 0.000" not in found  # the mirror image, not the enrolled photo again
    assert "(right): unknown" in found  # Grace Hopper is not enrolled

    at.button(key="demo_enrol").click().run()  # a second click adds nothing
    assert any("already enrolled as Eileen Collins" in i.value for i in at.info)
    assert resources.gallery().count_faces() == 1


def test_recognize_step_before_enrolling_says_what_to_do(tmp_path, monkeypatch):
    at = start_page(HOME, tmp_path / "data", monkeypatch)
    at.button(key="demo_recognize").click().run()
    assert not at.exception, at.exception
    assert any("enrol the astronaut first (step 1)" in i.value for i in at.info)


def test_a_visitor_who_may_not_enrol_is_told_and_can_still_verify(tmp_path, monkeypatch):
    monkeypatch.setitem(PERMISSIONS, Action.ENROL, frozenset({Role.ADMIN, Role.OPERATOR}))
    at = app_as(tmp_path / "data", monkeypatch, USER_PASSWORD)
    at.switch_page(HOME).run()
    assert not at.exception, at.exception
    enrol = at.button(key="demo_enrol")
    assert enrol.disabled
    assert any(
        "Only an admin can enrol (you are logged in as a user)" in i.value
        and "Step 2 needs no gallery" in i.value
        for i in at.info
    )

    enrol.proto.disabled = False  # a hostile client clicks anyway: the store refuses
    enrol.click().run()
    assert resources.gallery().count_faces() == 0
    assert not any(s.startswith("Enrolled") for s in _successes(at))

    at.button(key="demo_verify").click().run()
    assert not at.exception, at.exception
    assert any(s.startswith("**Same person**: the astronaut and") for s in _successes(at))
