"""Fine-tuning the ResNet's last level(s): the split network equals the pretrained one before
training, only convolutions and fc learn, checkpoints round-trip with their own model id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelFileError
from engine.faces.embedder import FaceEmbedder
from engine.permissions import OPERATOR
from engine.training import BASE_MODEL_ID, train_projection
from engine.training.finetune import (
    derive_finetune_id,
    embed_views,
    load_finetuned,
    load_trunk_and_top,
    save_finetuned,
)
from engine.training.models import set_active_model
from tests.training.test_loop import loop_options


@pytest.fixture(scope="module")
def chips() -> np.ndarray:
    from skimage.data import astronaut

    rng = np.random.default_rng(0)
    face = np.asarray(astronaut()[30:180, 160:310])  # roughly the astronaut's face, 150×150
    noisy = [np.clip(face + rng.normal(0, 8, face.shape), 0, 255) for _ in range(3)]
    return np.stack([face, *noisy, face[:, ::-1]]).astype(np.uint8)


@pytest.mark.parametrize("levels", [1, 2])
def test_split_network_is_the_pretrained_network(chips: np.ndarray, levels: int) -> None:
    trunk, top = load_trunk_and_top(levels)
    features = trunk.features(chips, mirror=True)
    assert features.shape[:2] == (len(chips), 2)
    ours = embed_views(top, features)
    reference = FaceEmbedder(device="cpu").embed_chips(chips, mirror=True)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_only_convolutions_and_fc_learn(chips: np.ndarray, tmp_path: Path) -> None:
    trunk, top = load_trunk_and_top(1)
    before = {k: v.clone() for k, v in top.state_dict().items()}
    x = trunk.features(np.concatenate([chips, chips[::-1]]))
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    knobs = loop_options(epochs=2, lr=1e-3, p=2, k=2, miner="batch-all")
    result = train_projection(x, labels, knobs, model=top)
    after = result.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(("conv" in k or k.startswith("fc")) for k in changed)
    assert not any("affine" in k for k in changed)

    model_id = derive_finetune_id(BASE_MODEL_ID, result.model)
    assert model_id.startswith(f"{BASE_MODEL_ID}+ft1-")
    meta = {"base_model_id": BASE_MODEL_ID, "data": "astronaut", "epochs": 2}
    path, saved = save_finetuned(tmp_path / "models", result.model, meta)
    assert saved["model_id"] == model_id and path.name == f"{model_id}.pt"
    loaded, loaded_meta = load_finetuned(path)
    np.testing.assert_array_equal(loaded.embed(x), result.model.embed(x))
    assert loaded_meta["levels"] == 1

    # The app embeds with the pretrained ResNet (+ a head): a fine-tuned model is refused
    # with a reason, not half-used.
    with pytest.raises(ModelFileError, match="fine-tuned ResNet"):
        set_active_model(tmp_path, model_id, BASE_MODEL_ID, actor=OPERATOR)
    path.write_bytes(b"junk")
    with pytest.raises(ModelFileError):
        load_finetuned(path)


def test_augmented_views_keep_the_chip_and_vary_it(chips: np.ndarray) -> None:
    from engine.training.augment import augmented_views

    bank = augmented_views(chips[:2], 4, seed=3)
    assert bank.shape == (2, 4, 150, 150, 3) and bank.dtype == np.uint8
    assert (bank[:, 0] == chips[:2]).all()
    assert all(not np.array_equal(bank[0, 0], bank[0, v]) for v in (1, 2, 3))
    assert (augmented_views(chips[:2], 4, seed=3) == bank).all()  # seeded
    # Light: a variation stays close to the chip or its mirror image.
    for view in bank[0, 1:]:
        gap = min(
            np.abs(view.astype(int) - chips[0]).mean(),
            np.abs(view.astype(int) - chips[0][:, ::-1]).mean(),
        )
        assert gap < 40


def test_training_on_a_bank_of_views() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16)).astype(np.float32)
    labels = np.arange(6).repeat(4)
    x = centres[labels][:, None, :] + rng.normal(0, 0.3, (24, 3, 16)).astype(np.float32)
    knobs = loop_options(epochs=2, p=3, k=2, miner="batch-all")
    result = train_projection(x, labels, knobs, views=True)
    assert len(result.history) == 2 and result.model.embed(x[:, 0]).shape == (24, 16)
