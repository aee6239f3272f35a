"""Style transfer page: examples picked, a few optimiser steps with live preview and curves,
C | S | G side by side with a PNG download; the fast preview; an unreadable upload."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.widgets import resources

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "ui/pages/style.py"


def _open(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path / "data"))
    resources.settings.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    return at.switch_page(PAGE).run()


def test_optimisation_run_shows_c_s_g_curves_and_download(tmp_path, monkeypatch) -> None:
    at = _open(tmp_path, monkeypatch)
    assert not at.exception, at.exception
    at.number_input(key="style_size").set_value(40)
    at.number_input(key="style_steps").set_value(3)
    at.number_input(key="style_every").set_value(2).run()
    at.selectbox(key="style_precision").set_value("float32").run()
    at = at.button(key="style_start").click().run()
    assert not at.exception, at.exception
    assert not at.error and not at.warning
    assert any("VGG passes in float32" in caption.value for caption in at.caption)
    chart = next(c for c in at.get("plotly_chart") if "style_curves" in c.proto.id)
    traces = {t["name"]: t["y"] for t in json.loads(chart.proto.spec)["data"]}
    assert set(traces) == {"content", "style", "total"}
    assert len(traces["total"]) == 3 and traces["total"][-1] < traces["total"][0]
    captions = [caption for image in at.image for caption in image.captions]
    assert [c.split(":")[0] for c in captions] == ["C", "S", "G"]
    assert captions[2] == "G: 3 steps in " + captions[2].split(" in ")[1]
    assert at.get("download_button")


def test_fast_preview_and_bad_upload(tmp_path, monkeypatch) -> None:
    at = _open(tmp_path, monkeypatch)
    at.radio(key="style_mode").set_value("Fast preview (feed-forward)").run()
    assert not at.exception, at.exception
    captions = [caption for image in at.image for caption in image.captions]
    assert captions[-1].startswith("G: fast preview")
    uploader = next(u for u in at.file_uploader if u.key == "style_content_upload")
    at = uploader.set_value([("broken.png", b"not an image", "image/png")]).run()
    assert at.error and "can't be read" in at.error[0].value


def test_a_stopped_run_keeps_its_preview_and_curves(tmp_path, monkeypatch) -> None:
    import numpy as np

    from engine.style import StepLosses

    at = _open(tmp_path, monkeypatch)
    history = [StepLosses(i, 40, 1.0 * i, 10.0 / i, 0.0, 10.0, 0.1 * i) for i in (1, 2)]
    image = np.zeros((40, 40, 3), np.uint8)
    at.session_state["style"] = {
        "content": image, "styles": [("S", image)], "history": history, "image": image,
        "result": None,
    }  # fmt: skip
    at.run()
    assert not at.exception, at.exception
    assert at.warning[0].value == "Stopped after 2 steps."
    assert [c for i in at.image for c in i.captions][-1] == "G: when stopped"
    assert any("style_curves" in c.proto.id for c in at.get("plotly_chart"))
