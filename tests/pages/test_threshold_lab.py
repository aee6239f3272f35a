"""Threshold lab page: a small LFW-format pair set end to end — metrics, the live threshold,
saving the operating point Verify then uses, training and saving a head — and the gallery's
leave-one-out evaluation."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from engine.config import Settings
from engine.evaluation.pair_classifier import saved_pair_classifiers
from engine.verification import default_threshold
from tests.lfw_like import make_lfw_like
from tests.pages.face_app import enroll_directly, start_page

PAGE = "ui/pages/threshold_lab.py"
MODEL = "dlib-resnet-v1"


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory, astronaut, grace_hopper):
    return make_lfw_like(tmp_path_factory.mktemp("lfw"), astronaut, grace_hopper)


@pytest.fixture(scope="module")
def pairs_zip(pairs_file) -> bytes:
    """The LFW-like folder zipped as an analyst would send it: people and pairs.txt."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(pairs_file.parent.rglob("*")):
            if path.is_file():
                archive.write(path, f"lfw/{path.relative_to(pairs_file.parent).as_posix()}")
    return buffer.getvalue()


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _table(at, column: str):
    """The first table with ``column`` (AppTest's dataframes carry no key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _open_pairs(at, pairs_zip: bytes, key: str = "lab"):
    """Upload the zip (its pairs.txt is chosen by default) and evaluate."""
    at.radio(key=f"{key}_source").set_value("Your labelled photos").run()
    at.file_uploader(key=f"{key}_upload").set_value(("lfw.zip", pairs_zip, "application/zip"))
    at.run()
    assert at.selectbox(key=f"{key}_pairs_file").value == "pairs.txt"
    return at.button(key=f"{key}_go").click().run()


def test_a_pairs_file_evaluated_thresholded_and_saved(pairs_zip, data_dir, monkeypatch):
    at = start_page(PAGE, data_dir, monkeypatch)
    assert at.button(key="lab_go").disabled  # nothing to embed yet
    at = _open_pairs(at, pairs_zip)
    assert not at.exception, at.exception
    assert any("8 pairs as listed in pairs.txt" in c.value for c in at.caption)
    assert _metric(at, "ROC AUC") == "1.0000" and _metric(at, "EER") == "0.00%"
    # Eight pairs cannot measure any of the standard FARs: every row says so, with no number.
    table = _table(at, "FAR ≤")
    assert list(table["TAR"]) == ["—"] * 4
    assert table["note"][0] == "not measurable: needs ≥ 10 impostor pairs"

    # The live threshold: accept nothing, then everything.
    at.slider(key="lab_threshold_distance").set_value(0.0).run()
    assert (_metric(at, "FRR"), _metric(at, "FAR")) == ("100.000%", "0.000%")
    at.slider(key="lab_threshold_distance").set_value(1.2).run()
    assert (_metric(at, "FRR"), _metric(at, "FAR")) == ("0.000%", "100.000%")
    assert any("**4** of 4 impostor pairs accepted" in m.value for m in at.markdown)
    assert _table(at, "false accepts")["false accepts"].sum() == 8  # 2 per pair

    # Pick the EER point (the slider follows) and save it as the operating point.
    at.radio(key="lab_method").set_value("At the EER").run()
    eer_threshold = at.slider(key="lab_threshold_distance").value
    assert at.slider(key="lab_threshold_distance").disabled
    assert _metric(at, "FAR") == "0.000%" and _metric(at, "FRR") == "0.000%"
    at.button(key="lab_save_point").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith(f"Saved {eer_threshold:.3f}")
    saved = json.loads((data_dir / "operating_point.json").read_text())
    assert saved["model_id"] == MODEL and saved["dataset"] == "pairs.txt"
    assert saved["method"] == "at the EER" and (saved["far"], saved["frr"]) == (0.0, 0.0)
    settings = Settings.from_env()  # start_page pointed VISIONLAB_DATA at data_dir
    assert default_threshold(settings, MODEL).value == pytest.approx(eer_threshold, abs=1e-3)

    # A target FAR the pairs cannot measure is not saved.
    at.radio(key="lab_method").set_value("At a target FAR").run()
    assert "not measurable here" in at.warning[0].value
    assert at.button(key="lab_save_point").disabled
    assert len(at.get("download_button")) == 3


def test_a_head_trained_compared_and_saved(pairs_zip, data_dir, monkeypatch):
    at = _open_pairs(start_page(PAGE, data_dir, monkeypatch), pairs_zip)
    at.radio(key="lab_feature").set_value("chi2").run()
    at = _open_pairs(at, pairs_zip, key="lab_train")
    at.button(key="lab_fit_head").click().run()
    assert not at.exception, at.exception
    table = _table(at, "scorer")
    assert list(table["scorer"]) == ["distance", "chi2 head"]
    assert at.text_input(key="lab_head_name").value == "chi2-pairs"
    at.button(key="lab_save_head").click().run()
    assert saved_pair_classifiers(data_dir, MODEL).keys() == {"chi2-pairs"}
    # The saved head becomes a scorer: thresholds are now probabilities.
    at.selectbox(key="lab_scorer").set_value("chi2-pairs").run()
    assert not at.exception, at.exception
    slider = at.slider(key="lab_threshold_probability")
    assert slider.value == 0.5 and slider.max == 1.0
    assert "distance threshold" in at.info[0].value  # no operating point from a head


def test_a_cancelled_embedding_says_what_was_kept(pairs_zip, data_dir, monkeypatch):
    at = start_page(PAGE, data_dir, monkeypatch)
    at.file_uploader(key="lab_upload").set_value(("lfw.zip", pairs_zip, "application/zip"))
    at.run()
    # What the Cancel button's callback leaves behind when it interrupts the embedding.
    inputs = ("Your labelled photos", hashlib.sha256(pairs_zip).hexdigest(), "pairs.txt")
    at.session_state["lab"] = {"inputs": inputs, "built": None, "cancelled": True}
    at.run()
    assert "Embedding was cancelled" in at.warning[0].value
    assert not at.metric  # nothing evaluated


def test_the_gallery_leave_one_out(data_dir, monkeypatch, astronaut, grace_hopper):
    at = start_page(PAGE, data_dir, monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Eileen Collins", astronaut[:, ::-1], "mirror")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    at.radio(key="lab_source").set_value("Enrolled gallery").run()
    at.button(key="lab_go").click().run()
    assert not at.exception, at.exception
    assert any(
        "2 people, 3 faces: all 1 genuine pairs; all 2 impostor" in c.value for c in at.caption
    )
    assert _metric(at, "ROC AUC") == "1.0000"
    assert _metric(at, "CMC rank-1") == "100.00%"
    assert _metric(at, "DIR at FPIR 1e-01") == "not measurable"  # 3 non-mated searches


def _siblings_of(at, key: str) -> list:
    """The elements in the same container as the widget ``key``, in the order drawn."""

    def walk(node):
        children = list(getattr(node, "children", {}).values())
        if any(getattr(child, "key", None) == key for child in children):
            return children
        for child in children:
            found = walk(child)
            if found is not None:
                return found
        return None

    siblings = walk(at._tree)
    assert siblings is not None, f"no widget {key}"
    return siblings


def _roc(at, title: str = "ROC") -> dict:
    """The layout of the first plotly figure whose title starts with ``title``."""
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        if layout.get("title", {}).get("text", "").startswith(title):
            return layout
    raise AssertionError(f"no chart titled {title}")


def test_the_saved_confirmation_is_right_below_the_save_button(pairs_zip, data_dir, monkeypatch):
    at = _open_pairs(start_page(PAGE, data_dir, monkeypatch), pairs_zip)
    at.radio(key="lab_method").set_value("At the EER").run()
    at.button(key="lab_save_point").click().run()
    assert not at.exception, at.exception
    siblings = _siblings_of(at, "lab_save_point")
    after = siblings[[getattr(s, "key", None) for s in siblings].index("lab_save_point") + 1]
    assert after.type == "success" and after.value.startswith("Saved ")
    assert [s.value for s in at.success] == [after.value]  # and nowhere else (not at the top)
    at.run()  # any next interaction: the confirmation has been read
    assert not at.success


def test_the_roc_starts_zoomed_and_a_toggle_shows_the_full_range(pairs_zip, data_dir, monkeypatch):
    at = _open_pairs(start_page(PAGE, data_dir, monkeypatch), pairs_zip)
    layout = _roc(at)
    assert layout["yaxis"]["range"] == [0.9, 1.02]  # TAR from 0.9
    assert layout["xaxis"]["type"] == "log"  # FAR on a log axis
    assert at.toggle(key="lab_roc_full").value is False
    at.toggle(key="lab_roc_full").set_value(True).run()
    layout = _roc(at)
    assert layout["yaxis"]["range"] == [0, 1.02] and layout["xaxis"]["type"] == "log"


LONG_NAME = "Maria Dolores de los Angeles Garcia-Villanueva"


def test_a_long_name_under_a_chip_is_shortened_between_words(
    data_dir, monkeypatch, astronaut, grace_hopper
):
    at = start_page(PAGE, data_dir, monkeypatch)
    enroll_directly(LONG_NAME, astronaut, "astronaut")
    enroll_directly(LONG_NAME, astronaut[:, ::-1], "mirror")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    at.radio(key="lab_source").set_value("Enrolled gallery").run()
    at.button(key="lab_go").click().run()
    assert not at.exception, at.exception
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    shortened = [c for c in captions if c.startswith("Maria")]
    assert shortened and "Grace Hopper" in captions
    for caption in shortened:
        assert caption != LONG_NAME and caption.endswith(" …")
        words = caption.removesuffix(" …").split()
        assert words == LONG_NAME.split()[: len(words)]  # whole words, from the start


def test_chip_captions_wrap_only_at_spaces():
    from ui.widgets.labelled_pairs import CAPTION_WIDTH, _text_width, chip_caption

    assert chip_caption("Diane_Green_0001") == "Diane Green 0001"  # an LFW stem's words
    assert chip_caption("Eileen Collins") == "Eileen Collins"
    # A word wider than the caption is cut with an ellipsis, never left for the browser to
    # break; the image number after it stays.
    assert chip_caption("Arnold_Schwarzenegger_0001") == "Arnold Schwarzene… 0001"
    for name in (LONG_NAME, "Arnold_Schwarzenegger_0001", "W" * 30):
        assert all(_text_width(w) <= CAPTION_WIDTH for w in chip_caption(name).split())
