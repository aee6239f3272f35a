"""Train page: a tiny folder of people embedded, a 2-epoch head trained with live curves (rate
and time left beside the bar, Stop gone when done), compared on held-out people and saved as a
checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.delta_generator import DeltaGenerator

from engine.training import BASE_MODEL_ID, load_checkpoint
from tests.pages.face_app import enroll_directly, start_page
from ui.widgets import resources

PAGE = "ui/pages/train.py"


def _write_people(folder: Path, people: dict[str, np.ndarray]) -> Path:
    """Three images of each person: as is, mirrored, cropped."""
    for name, photo in people.items():
        variants = (photo, photo[:, ::-1], photo[16:-16, 24:-12])
        for i, pixels in enumerate(variants, start=1):
            path = folder / name / f"{name}_{i:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(pixels)).save(path, quality=95)
    return folder


@pytest.fixture(scope="module")
def two_people(tmp_path_factory, astronaut, grace_hopper):
    return _write_people(
        tmp_path_factory.mktemp("people"), {"Eileen": astronaut, "Grace": grace_hopper}
    )


def _curves(at) -> dict[str, list[float]]:
    """The y values of the training-curves chart, by trace name."""
    chart = next(c for c in at.get("plotly_chart") if "train_curves" in c.proto.id)
    return {t["name"]: t["y"] for t in json.loads(chart.proto.spec)["data"]}


@pytest.fixture(autouse=True)
def server_roots(tmp_path_factory, monkeypatch):
    """These tests name server folders (local mode is an admin): allow the tests' temp root."""
    monkeypatch.setenv("VISIONLAB_SERVER_ROOTS", str(tmp_path_factory.getbasetemp()))


@pytest.fixture
def progress_texts(monkeypatch) -> list[str]:
    """Every text a progress bar is given, as the user read it (the bar is gone once done)."""
    texts: list[str] = []
    original = DeltaGenerator.progress

    def progress(self, value, text=None):
        texts.append(text or "")
        return original(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", progress)
    return texts


def _train(at, folder: Path, epochs: int = 2):
    at.radio(key="train_kind").set_value("A folder on this server").run()
    at.text_input(key="train_folder").set_value(str(folder))
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_k").set_value(3).run()
    return at.button(key="train_start").click().run()


def test_two_epochs_trained_shown_and_saved(two_people, tmp_path, monkeypatch, progress_texts):
    data_dir = tmp_path / "data"
    at = start_page(PAGE, data_dir, monkeypatch)
    assert at.button(key="train_start").disabled  # no folder yet
    at = _train(at, two_people)
    assert not at.exception, at.exception
    # Rate and time left as it ran: images while embedding, then epochs.
    embedding = [t for t in progress_texts if t.startswith("Embedding images: ")]
    assert embedding[0] == "Embedding images: 0 / 6 · starting"  # a fresh cache
    assert any(
        t.startswith("Embedding images: 3 / 6 · ") and t.endswith(" left") for t in embedding
    )
    assert embedding[-1].startswith("Embedding images: 6 / 6 · done in ")
    epochs = [t for t in progress_texts if t.startswith("Epoch ")]
    assert any(
        t.startswith("Epoch 1 / 2 · ") and t.endswith(" left") and "epoch" in t for t in epochs
    )
    assert epochs[-1].startswith("Epoch 2 / 2 · done in ")
    # Done: the Stop button and the bar are gone.
    assert not any(b.key == "train_stop_button" for b in at.button)
    assert not at.get("progress")
    curves = _curves(at)
    assert set(curves) == {"loss", "active fraction", "d(A, P)", "d(A, N)"}
    assert all(len(values) == 2 for values in curves.values())
    assert all(np.isfinite(v) for values in curves.values() for v in values)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Final loss"] == f"{curves['loss'][-1]:.4f}"
    assert metrics["Mean d(A, N)"] == f"{curves['d(A, N)'][-1]:.3f}"
    assert any(
        "2 epochs with semi-hard mining on 2 people (6 images)" in c.value for c in at.caption
    )
    assert "at least 4 people" in at.info[0].value  # too few people to hold any out

    at.button(key="train_save").click().run()
    assert not at.exception, at.exception
    [saved] = (data_dir / "models").glob("*.pt")
    head = load_checkpoint(saved)
    assert at.success[0].value.startswith(f"Saved {head.model_id} to {saved}.")
    assert head.metadata["epochs"] == 2 and head.metadata["data"] == str(two_people)
    assert head.metadata["miner"] == "semi-hard"
    assert 0 < head.metadata["threshold"] < 2  # the default of Verify / Recognize for it


def test_use_this_model_reembeds_the_gallery_and_switches_back(
    two_people, tmp_path, monkeypatch, astronaut
):
    data_dir = tmp_path / "data"
    at = start_page(PAGE, data_dir, monkeypatch)
    enroll_directly("Eileen", astronaut, "astronaut")
    at = _train(at, two_people, epochs=1)
    at.button(key="train_save").click().run()
    [saved] = (data_dir / "models").glob("*.pt")
    model_id = load_checkpoint(saved).model_id
    assert resources.face_pipeline().model_id == BASE_MODEL_ID

    at.selectbox(key="model_choice").set_value(model_id).run()
    assert any("same** model" in c.value for c in at.caption)  # why re-embedding is needed
    at.button(key="model_use").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith(f"Now using {model_id}. Gallery re-embedded: 1 faces")
    assert resources.face_pipeline().model_id == model_id
    assert resources.gallery().model_id == model_id and resources.gallery().count_faces() == 1

    at.selectbox(key="model_choice").set_value(BASE_MODEL_ID).run()
    at.button(key="model_use").click().run()
    assert at.success[0].value == f"Back to the pretrained model {BASE_MODEL_ID}."
    assert resources.face_pipeline().model_id == BASE_MODEL_ID


def test_held_out_people_compared(tmp_path, monkeypatch, astronaut, grace_hopper):
    # Four "people": grey copies stand in for two more (they are impostors by label only).
    grey = {
        "EileenGrey": np.repeat(
            np.asarray(Image.fromarray(astronaut).convert("L"))[..., None], 3, 2
        ),
        "GraceGrey": np.repeat(
            np.asarray(Image.fromarray(grace_hopper).convert("L"))[..., None], 3, 2
        ),
    }
    folder = _write_people(
        tmp_path / "people", {"Eileen": astronaut, "Grace": grace_hopper, **grey}
    )
    at = _train(start_page(PAGE, tmp_path / "data", monkeypatch), folder, epochs=1)
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "embedding" in d.value.columns)
    assert list(table["embedding"]) == ["base distance", "trained head"]
    roc = next(c for c in at.get("plotly_chart") if "train_roc" in c.proto.id)
    names = [t["name"] for t in json.loads(roc.proto.spec)["data"]]
    assert any(n.startswith("base distance") for n in names)
    assert any(n.startswith("trained head") for n in names)


def test_a_missing_folder_is_a_plain_error(tmp_path, monkeypatch):
    at = start_page(PAGE, tmp_path / "data", monkeypatch)
    at.radio(key="train_kind").set_value("A folder on this server").run()
    at.text_input(key="train_folder").set_value(str(tmp_path / "nowhere")).run()
    assert not at.exception, at.exception
    # The same sentence as for a folder outside the roots: it does not say what exists.
    assert at.error[0].value.startswith("not an allowed folder: choose a folder under ")
    assert at.button(key="train_start").disabled
    assert not at.metric
