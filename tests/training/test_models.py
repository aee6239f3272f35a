"""Trained models in the data folder: saving, listing, choosing one, falling back, thresholds,
and re-embedding the gallery for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import Settings
from engine.errors import ModelFileError
from engine.permissions import OPERATOR
from engine.training import BASE_MODEL_ID, ResidualProjection, train_projection
from engine.training.models import (
    active_model_id,
    checkpoint_path,
    list_trained_models,
    load_active_projection,
    save_trained_model,
    set_active_model,
)
from engine.training.reembed import reembed_gallery
from engine.verification import default_threshold
from store import Gallery
from tests.store.conftest import FaceMaker, faces, no_default_embedding_function, open_gallery
from tests.training.test_loop import clustered, loop_options

__all__ = ["faces", "no_default_embedding_function", "open_gallery"]  # fixtures used here


def scaled_head(scale: float = 0.5, seed: int = 0) -> ResidualProjection:
    """A head that changes every vector: x ↦ x + W x + b with a small random W and b."""
    head = ResidualProjection(128)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.linear.weight.copy_(torch.randn(128, 128, generator=generator) * scale / 128**0.5)
        head.linear.bias.copy_(torch.randn(128, generator=generator) * 0.01)
    return head.eval()


def save(data_dir: Path, head: ResidualProjection, threshold: float | None = 0.55) -> str:
    metadata = {
        "base_model_id": BASE_MODEL_ID,
        "data": "synthetic",
        "alpha": 0.2,
        "miner": "semi-hard",
        "epochs": 1,
        "metrics": {},
        "threshold": threshold,
    }
    path, meta = save_trained_model(data_dir, head, metadata, actor=OPERATOR)
    assert path == checkpoint_path(data_dir, meta["model_id"]) and path.is_file()
    return meta["model_id"]


def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, max_pixels=10**8, detect_max_side=1600, device="cpu")


def test_saved_models_are_listed_and_one_can_be_chosen(tmp_path: Path) -> None:
    assert list_trained_models(tmp_path) == [] and active_model_id(tmp_path) is None
    first, second = save(tmp_path, scaled_head(seed=1)), save(tmp_path, scaled_head(seed=2))
    listed = {m.model_id for m in list_trained_models(tmp_path, BASE_MODEL_ID)}
    assert listed == {first, second}
    assert list_trained_models(tmp_path, "another-base") == []

    set_active_model(tmp_path, second, BASE_MODEL_ID, actor=OPERATOR)
    assert active_model_id(tmp_path) == second
    active = load_active_projection(tmp_path, BASE_MODEL_ID)
    assert (
        active.problem is None
        and active.projection is not None
        and active.projection.model_id == second
    )
    x = np.random.default_rng(0).normal(size=(4, 128)).astype(np.float32)
    np.testing.assert_array_equal(active.projection.project(x), scaled_head(seed=2).embed(x))

    # back to the pretrained model
    set_active_model(tmp_path, BASE_MODEL_ID, BASE_MODEL_ID, actor=OPERATOR)
    assert (
        active_model_id(tmp_path) is None
        and load_active_projection(tmp_path, BASE_MODEL_ID).projection is None
    )


def test_a_model_that_cannot_load_is_refused_or_falls_back(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        set_active_model(tmp_path, f"{BASE_MODEL_ID}+head-00000000", BASE_MODEL_ID, actor=OPERATOR)
    assert active_model_id(tmp_path) is None

    chosen = save(tmp_path, scaled_head())
    set_active_model(tmp_path, chosen, BASE_MODEL_ID, actor=OPERATOR)
    checkpoint_path(tmp_path, chosen).write_bytes(b"not a checkpoint")
    fallback = load_active_projection(tmp_path, BASE_MODEL_ID)
    assert fallback.projection is None and chosen in (fallback.problem or "")
    with pytest.raises(ValueError, match="not a model id"):
        checkpoint_path(tmp_path, "../../etc/passwd")


def test_trained_models_bring_their_threshold(tmp_path: Path) -> None:
    chosen = save(tmp_path, scaled_head(), threshold=0.5512)
    value, source = default_threshold(settings(tmp_path), chosen)
    assert value == pytest.approx(0.5512) and "trained model" in source
    assert default_threshold(settings(tmp_path), BASE_MODEL_ID).value == 0.6


def test_reembedding_gives_every_face_the_heads_vector(
    faces: FaceMaker, open_gallery: Callable[..., Gallery]
) -> None:
    base = open_gallery()
    for person in ("ada", "alan", "grace"):
        for _ in range(2):
            base.enroll(person, faces.face(person))
    head = scaled_head()
    model_id = f"{BASE_MODEL_ID}+head-test"
    target = open_gallery(model_id=model_id)
    assert target.count_faces() == 0

    seen: list[tuple[int, int]] = []
    summary = reembed_gallery(
        base, target, head.embed, progress=lambda d, t: seen.append((d, t)), actor=OPERATOR
    )
    assert (summary.faces, summary.written, summary.already, summary.without_chip) == (6, 6, 0, 0)
    assert seen[-1] == (6, 6)

    def by_image(gallery: Gallery, person_id: str) -> dict[str, np.ndarray]:
        faces = gallery.faces_of(person_id)
        vectors = gallery.person_embeddings(person_id)
        return {f.image_sha256: v for f, v in zip(faces, vectors, strict=True)}

    for person in base.people():
        before, after = by_image(base, person.id), by_image(target, person.id)
        assert before.keys() == after.keys()
        for image, vector in before.items():
            np.testing.assert_allclose(after[image], head.embed(vector[None])[0], atol=1e-6)
    # A query embedded with the head finds its person in the head's vectors.
    grace = base.find_person("grace")
    assert grace is not None
    probe = head.embed(faces.embedding("grace")[None])[0]
    assert target.search(probe, k=1, model_id=model_id)[0].person.id == grace.id

    again = reembed_gallery(base, target, head.embed, actor=OPERATOR)
    assert (again.written, again.already) == (0, 6)

    # Deleting a person removes the vectors of every model.
    base.delete_person(grace.id)
    assert target.count_faces() == 4 and base.count_faces() == 4


def test_reembedding_can_be_cancelled_and_resumed(
    faces: FaceMaker, open_gallery: Callable[..., Gallery]
) -> None:
    base = open_gallery()
    for i in range(5):
        base.enroll(f"p{i}", faces.face(f"p{i}"))
    target = open_gallery(model_id=f"{BASE_MODEL_ID}+head-test")
    calls = iter(range(100))
    summary = reembed_gallery(
        base, target, scaled_head().embed, should_stop=lambda: next(calls) >= 2, actor=OPERATOR
    )
    assert summary.cancelled and summary.written == 2
    rest = reembed_gallery(base, target, scaled_head().embed, actor=OPERATOR)
    assert (rest.written, rest.already) == (3, 2) and target.count_faces() == 5


def test_held_out_people_keep_the_best_epoch() -> None:
    x, y = clustered(n_ids=24)
    knobs = loop_options(miner="batch-all", epochs=4, lr=1e-2, held_out=0.25, seed=0)
    result = train_projection(x, y, knobs)
    assert result.baseline is not None and result.best_epoch is not None
    aucs = [result.baseline.auc] + [h.held_out_auc for h in result.history]
    assert result.best_epoch == int(np.argmax(aucs))
    assert result.history[-1].held_out_eer is not None
    # The nuisance dims are learnable: training beats the untrained head on unseen people.
    assert max(aucs[1:]) > result.baseline.auc


def test_a_head_that_cannot_help_gives_back_the_pretrained_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 128)).astype(np.float32)
    y = rng.permutation(np.arange(20).repeat(8))  # identities unrelated to the vectors
    x[:, :4] += np.eye(4, dtype=np.float32)[y % 4] * 3  # ...except a split into 4 groups
    knobs = loop_options(miner="batch-all", epochs=3, lr=5e-2, held_out=0.3, seed=1)
    result = train_projection(x, y, knobs)
    if result.best_epoch == 0:
        np.testing.assert_array_equal(result.model.embed(x), x)
    aucs = [result.baseline.auc] + [h.held_out_auc for h in result.history]
    assert aucs[result.best_epoch] == max(aucs)
