"""The app starts, navigates to Home, and shows the engine's status and model cards."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_home_shows_device_models_and_versions():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Vision Lab"
    assert any(m.label == "Device" for m in at.metric)
    models = at.dataframe[0].value
    assert set(models["id"]) == {
        "dlib-mmod-human-face-detector",
        "dlib-shape-predictor-5",
        "dlib-resnet-v1",
    }
    assert "99.38% LFW" in set(models["published"])
    versions = at.dataframe[1].value
    assert "torch" in set(versions["package"])


def test_loading_models_from_home():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "loaded" in at.success[0].value
