"""Verify with a learned head as the scorer: the decision becomes a probability against a
probability threshold, for two photos and for a claimed identity."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.evaluation.pair_classifier import PairClassifier
from engine.permissions import OPERATOR
from tests.pages.face_app import enroll_directly, png, start_page, upload
from ui.widgets import resources

MODEL = "dlib-resnet-v1"


@pytest.fixture(scope="module")
def head_file(tmp_path_factory, astronaut, grace_hopper):
    """A head trained on jittered copies of the test photos' descriptors: Eileen against her
    mirror image is genuine, Eileen against Grace is not."""
    pipeline = resources.face_pipeline()
    [eileen], [mirror], [grace] = (
        pipeline.analyze(image) for image in (astronaut, astronaut[:, ::-1], grace_hopper)
    )
    rng = np.random.default_rng(0)

    def jitter(embedding: np.ndarray) -> np.ndarray:
        return embedding + rng.normal(0, 0.02, (200, len(embedding)))

    a = np.concatenate([jitter(eileen.embedding), jitter(eileen.embedding)])
    b = np.concatenate([jitter(mirror.embedding), jitter(grace.embedding)])
    same = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    head = PairClassifier.fit(a, b, same, feature="absdiff", model_id=MODEL, trained_on="jit")
    return head.save(tmp_path_factory.mktemp("heads"), "test-head", actor=OPERATOR)


@pytest.fixture
def data_dir(tmp_path, head_file):
    """A data folder holding the one head."""
    heads = tmp_path / "data" / "heads"
    heads.mkdir(parents=True)
    shutil.copy(head_file, heads / head_file.name)
    return tmp_path / "data"


def _metric(at, label: str) -> float:
    return float(next(m.value for m in at.metric if m.label == label))


def test_two_photos_scored_by_a_head(data_dir, monkeypatch, astronaut, grace_hopper):
    at = start_page("ui/pages/verify.py", data_dir, monkeypatch)
    at.selectbox(key="verify_scorer").set_value("test-head").run()
    upload(at, "verify_a", ("astronaut.png", png(astronaut)))
    upload(at, "verify_b", ("mirror.png", png(astronaut[:, ::-1])))
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("**Same person**")
    probability = _metric(at, "Probability (same person)")
    assert probability > 0.5 and _metric(at, "Threshold") == 0.5
    assert any("the head test-head's default 0.50 (trained on jit)" in c.value for c in at.caption)
    upload(at, "verify_b", ("grace.png", png(grace_hopper)))
    assert at.warning[0].value.startswith("**Different people**")
    assert _metric(at, "Probability (same person)") < 0.5
    at.slider(key="verify_head_threshold_test-head").set_value(0.0).run()  # accept anything
    assert at.success[0].value.startswith("**Same person**")


def test_a_claim_scored_by_a_head(data_dir, monkeypatch, astronaut, grace_hopper):
    at = start_page("ui/pages/verify.py", data_dir, monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.radio(key="verify_mode").set_value("A photo and an enrolled person").run()
    at.selectbox(key="verify_scorer").set_value("test-head").run()
    upload(at, "verify_a", ("mirror.png", png(astronaut[:, ::-1])))
    assert not at.exception, at.exception
    assert not at.success and not at.warning  # no verdict before a person is chosen
    at.selectbox(key="verify_person").select_index(0).run()
    assert at.success[0].value.startswith("**Same person**")
    assert [m.label for m in at.metric].count("Probability (same person)") == 1
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert captions == ["mirror.png", "Face 1", "best-scoring enrolled face"]
    upload(at, "verify_a", ("grace.png", png(grace_hopper)))
    assert at.warning[0].value.startswith("**Different people**")


def test_without_heads_there_is_no_scorer_choice(tmp_path, monkeypatch):
    at = start_page("ui/pages/verify.py", tmp_path / "empty", monkeypatch)
    assert not any(s.key == "verify_scorer" for s in at.selectbox)
    assert at.slider(key="verify_threshold").value == pytest.approx(0.6)
