"""Style transfer page: examples picked (painted ones included), a few optimiser steps with live
preview, pace and time left, curves, C | S | G side by side with a PNG download and how far the
style cost fell; the benchmark's fast path; the fast preview; an unreadable upload."""

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
    from streamlit.delta_generator import DeltaGenerator

    texts: list[str] = []
    progress = DeltaGenerator.progress

    def recording(self, value, text=None):
        texts.append(text or "")
        return progress(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", recording)
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
    # The bar said the pace and the time left; the Stop button went with it.
    assert texts[0].startswith("Step 1 / 3 (40 px) · ") and texts[0].endswith(" left")
    assert texts[-1].startswith("Step 3 / 3 (40 px) · done in ")
    assert not [b for b in at.button if b.key == "style_stop_button"]
    assert any("below the content photo's own" in caption.value for caption in at.caption)


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


def test_the_page_takes_the_benchmarks_fast_path(tmp_path, monkeypatch) -> None:
    """The page's call is ``bench.style``'s "ours": the cached VGG16 (cut by ``load_network``),
    targets computed once, the default number format (bfloat16 where the hardware has it)."""
    from engine.style import StyleOptions, transfer

    calls = []
    real = transfer.stylize

    def recording(content, styles, options, **kwargs):
        calls.append((options, kwargs))
        return real(content, styles, options, **kwargs)

    monkeypatch.setattr(transfer, "stylize", recording)
    at = _open(tmp_path, monkeypatch)
    picker = at.multiselect(key="style_style_ex")
    assert picker.value == ["Hubble deep field (scikit-image)"]
    assert sum(name.startswith("Painted: ") for name in picker.options) == 4
    assert at.number_input(key="style_size").value == StyleOptions().size
    assert at.number_input(key="style_steps").value == StyleOptions().steps
    at.number_input(key="style_size").set_value(40)
    at.number_input(key="style_steps").set_value(2).run()
    at = at.button(key="style_start").click().run()
    assert not at.exception, at.exception
    ((options, kwargs),) = calls
    fast = StyleOptions()
    assert (options.cache_targets, options.truncate) == (fast.cache_targets, fast.truncate)
    assert options.cache_targets and options.truncate and options.precision == "auto"
    assert kwargs["network"] is resources.style_network() and kwargs["callback"] is not None
