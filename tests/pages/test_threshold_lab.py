"""Threshold lab page: a small LFW-format pair set end to end — metrics, the live threshold,
saving the operating point Verify then uses, training and saving a head — and the gallery's
leave-one-out evaluation, with Recognize's open-set point chosen and saved on it; the embedding
job's rate and time left, and its Cancel button gone once done."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from streamlit.delta_generator import DeltaGenerator

from engine.config import Settings
from engine.evaluation.gallery import gallery_faces, gallery_searches, open_set_report
from engine.evaluation.metrics import dir_at_fpir
from engine.evaluation.operating_point import OPEN_SET_POINT_FILE, read_open_set_point
from engine.evaluation.pair_classifier import saved_pair_classifiers
from engine.open_set import recognize_threshold
from engine.verification import default_threshold
from store import NewFace
from tests.hosted_app import USER_PASSWORD, app_as
from tests.lfw_like import make_lfw_like
from tests.pages.face_app import enroll_directly, start_page
from ui.widgets import resources
from ui.widgets.access import ADMIN_ONLY

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
        "2 people, 3 faces: all 1 genuine pair; all 2 impostor" in c.value for c in at.caption
    )
    assert _metric(at, "ROC AUC") == "1.0000"
    assert _metric(at, "CMC rank-1") == "100.00%"
    assert _metric(at, "DIR at FPIR 1e-01") == "not measurable"  # 3 non-mated searches
    # Nor can Recognize's point be chosen on them: the lab says why and offers no Save.
    assert at.selectbox(key="lab_open_set_fpir").value == 0.1
    assert any("needs at least 10 non-mated searches" in w.value for w in at.warning)
    assert at.button(key="lab_save_open_set").disabled


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


# --- Recognize's open-set point, chosen on a gallery of 12 people ------------------------------
PEOPLE = 12


def _enrol_synthetic_people(people: int = PEOPLE, seed: int = 0) -> None:
    """``people`` people, two faces each, straight into the gallery (no face model): centres
    about 0.6 apart, a person's two faces about 0.3, so distances sit where dlib's do and
    Recognize's slider (0.2 to 1.2) can show the threshold chosen on them."""
    rng = np.random.default_rng(seed)
    gallery = resources.gallery_for(MODEL)
    for p in range(people):
        centre = rng.normal(0, 0.04, 128)
        for i in range(2):
            gallery.enroll(
                f"Person {p:02d}",
                NewFace(
                    embedding=(centre + rng.normal(0, 0.02, 128)).astype(np.float32),
                    chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
                    image_sha256=hashlib.sha256(f"{seed} {p} {i}".encode()).hexdigest(),
                    box=(10.0, 10.0, 109.0, 109.0),
                    landmarks=rng.uniform(0, 150, (5, 2)),
                    score=1.0,
                    model_id=MODEL,
                ),
            )


def _evaluate_gallery(at):
    at.radio(key="lab_source").set_value("Enrolled gallery").run()
    at = at.button(key="lab_go").click().run()
    assert not at.exception, at.exception
    return at


def test_recognizes_open_set_point_chosen_saved_and_then_used(data_dir, monkeypatch):
    at = start_page(PAGE, data_dir, monkeypatch)
    _enrol_synthetic_people()
    at = _evaluate_gallery(at)
    # 24 faces are 24 non-mated searches: 1e-2 is not measurable, 5e-2 the strictest that is.
    assert at.selectbox(key="lab_open_set_fpir").value == 0.05
    expected = dir_at_fpir(
        open_set_report(gallery_searches(gallery_faces(resources.gallery_for(MODEL)))).curve,
        0.05,
    )
    assert 0.2 < expected.threshold < 1.2 and expected.achieved_fpir <= 0.05
    assert any(
        f"At FPIR ≤ 5e-02: threshold **{expected.threshold:.3f}**, DIR **{expected.dir:.2%}**"
        in m.value
        for m in at.markdown
    )
    assert any(c.value.startswith("Recognize now uses threshold ") for c in at.caption)

    save = at.button(key="lab_save_open_set")
    assert save.label == "Save as Recognize's open-set threshold" and not save.disabled
    at = save.click().run()
    assert not at.exception, at.exception
    point = read_open_set_point(data_dir)
    assert point is not None and point.model_id == MODEL
    assert point.threshold == pytest.approx(expected.threshold)
    assert (point.target_fpir, point.gallery_size) == (0.05, PEOPLE)
    assert point.dir == pytest.approx(expected.dir)
    assert point.fpir == pytest.approx(expected.achieved_fpir)
    assert point.dataset == "enrolled gallery"
    # "Saved" right below the button, as for the 1:1 point.
    siblings = _siblings_of(at, "lab_save_open_set")
    after = siblings[[getattr(s, "key", None) for s in siblings].index("lab_save_open_set") + 1]
    assert after.type == "success"
    assert after.value.startswith(f"Saved {expected.threshold:.3f} (DIR ")
    assert after.value.endswith("Recognize now starts from it.")
    assert any("Recognize now uses threshold" in c.value and "saved open-set point" in c.value
               for c in at.caption)  # fmt: skip

    # Recognize takes it: the engine's default, and the page's slider and sentence.
    settings = Settings.from_env()
    default = recognize_threshold(settings, MODEL, PEOPLE)
    assert default.value == pytest.approx(expected.threshold)
    assert "saved open-set point" in default.source
    at.switch_page("ui/pages/recognize.py").run()
    assert not at.exception, at.exception
    assert at.slider(key="recognize_threshold").value == round(expected.threshold, 2)
    assert any(
        c.value.startswith(f"Default threshold {expected.threshold:.2f}: saved open-set point")
        and f"with {PEOPLE} people enrolled" in c.value
        for c in at.caption
    )


def test_a_user_cannot_save_recognizes_open_set_point(data_dir, monkeypatch):
    """The same rule as the 1:1 Save: offered to admins only, and refused below the page."""
    at = app_as(data_dir, monkeypatch, USER_PASSWORD)
    _enrol_synthetic_people()
    at = _evaluate_gallery(at.switch_page(PAGE).run())
    save = at.button(key="lab_save_open_set")
    assert save.disabled and save.help == ADMIN_ONLY
    assert at.button(key="lab_save_point").disabled  # as the 1:1 point's
    save.proto.disabled = False  # a hostile client clicks anyway: the engine refuses
    at = save.click().run()
    assert not (data_dir / OPEN_SET_POINT_FILE).exists()
    errors = " ".join(e.value for e in at.error)
    assert not errors or "Only an admin can save the operating point" in errors
    assert not at.success


# --- the embedding job's progress ---------------------------------------------------------------
@pytest.fixture
def progress_texts(monkeypatch) -> list[str]:
    """Every text a progress bar is given, as the user would have read it (AppTest keeps only
    the last run's elements, and the bar is gone once the job is done)."""
    texts: list[str] = []
    original = DeltaGenerator.progress

    def progress(self, value, text=None):
        texts.append(text or "")
        return original(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", progress)
    return texts


def test_embedding_shows_rate_and_time_left_and_cancel_goes_when_done(
    pairs_zip, data_dir, monkeypatch, progress_texts
):
    at = _open_pairs(start_page(PAGE, data_dir, monkeypatch), pairs_zip)
    assert not at.exception, at.exception
    embedding = [t for t in progress_texts if t.startswith("Embedding images: ")]
    assert embedding[0] == "Embedding images: 0 / 5 · starting"  # 5 images, none cached yet
    assert any(" left" in t and ("images/s" in t or "s per image" in t) for t in embedding)
    assert embedding[-1].startswith("Embedding images: 5 / 5 · done in ")
    assert not any(b.key == "lab_cancel" for b in at.button)  # the job is done: no Cancel
    assert not at.get("progress")


def test_a_failed_embedding_leaves_no_cancel_button(pairs_zip, data_dir, monkeypatch):
    from engine.errors import VisionLabError
    from ui.widgets import labelled_pairs

    def failing(pipeline, pairs, cache, progress=None, should_stop=None):
        progress(0, len(pairs.images))
        raise VisionLabError("The disk is full.")

    monkeypatch.setattr(labelled_pairs, "embed_pair_set", failing)
    at = _open_pairs(start_page(PAGE, data_dir, monkeypatch), pairs_zip)
    assert not at.exception, at.exception
    assert any("The disk is full." in e.value for e in at.error)
    assert not any(b.key == "lab_cancel" for b in at.button)
    assert not at.get("progress")
