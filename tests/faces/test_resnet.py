"""The PyTorch face ResNet against dlib's own ``compute_face_descriptor`` on real face chips.

dlib (the ``dlib-bin`` wheel) is the reference here and only here: it makes the chips
(HOG detector, 5-point landmarks, ``get_face_chip``) and the reference descriptors.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.faces.embedder import FaceEmbedder
from engine.faces.model_files import FACE_RESNET_FILE, LANDMARKS_5_FILE, model_path
from engine.faces.resnet import (
    FACE_RESNET_NUM_PARAMS,
    Affine,
    FaceResNet,
    load_face_resnet,
    zero_padded_add,
)
from engine.faces.weights import ALL_FACE_WEIGHTS, FACE_RESNET_V1
from engine.weights import get_weights, list_weights

PARITY_TOLERANCE = 1e-4  # the contract; the port actually lands at ~3e-7
SAME_PERSON_THRESHOLD = 0.6  # dlib's Euclidean threshold


class DlibReference:
    """dlib's own pipeline: HOG detector → 5 landmarks → 150 px chip → descriptor."""

    def __init__(self) -> None:
        dlib = pytest.importorskip("dlib")
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))
        self.recognizer = dlib.face_recognition_model_v1(str(model_path(FACE_RESNET_FILE)))

    def chip(self, image: np.ndarray) -> np.ndarray:
        """The aligned chip of the best-scoring face (upsampled once, as dlib's examples do)."""
        image = np.ascontiguousarray(image)
        boxes, scores, _ = self.detector.run(image, 1)
        assert boxes, "dlib found no face in the test image"
        best = boxes[int(np.argmax(scores))]
        shape = self.landmarks(image, best)
        return self.dlib.get_face_chip(image, shape, 150, 0.25)

    def descriptor(self, chip: np.ndarray) -> np.ndarray:
        return np.asarray(self.recognizer.compute_face_descriptor(chip), dtype=np.float32)


def rescaled_mirror(image: np.ndarray, factor: float) -> np.ndarray:
    """Another "photo" of the same face: resampled to a new size and mirrored."""
    height, width = image.shape[:2]
    size = (round(width * factor), round(height * factor))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    return np.ascontiguousarray(small[:, ::-1])


# --- fixtures: every model and chip is made once per module -----------------------------------
@pytest.fixture(scope="module")
def model() -> FaceResNet:
    return load_face_resnet()


@pytest.fixture(scope="module")
def folded(model: FaceResNet) -> FaceResNet:
    return model.fold_affine()


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder(device="cpu")


@pytest.fixture(scope="module")
def reference() -> DlibReference:
    return DlibReference()


@pytest.fixture(scope="module")
def chips(
    reference: DlibReference, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> dict[str, np.ndarray]:
    return {
        "astronaut": reference.chip(astronaut),
        "astronaut_small_mirrored": reference.chip(rescaled_mirror(astronaut, 0.75)),
        "grace_hopper": reference.chip(grace_hopper),
        "grace_hopper_small_mirrored": reference.chip(rescaled_mirror(grace_hopper, 0.6)),
    }


def embed_with(net: FaceResNet, chips: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(FACE_RESNET_V1.preprocess(chips)).numpy()


# --- structure -----------------------------------------------------------------------------
def test_parameter_count(model: FaceResNet) -> None:
    assert sum(p.numel() for p in model.parameters()) == FACE_RESNET_NUM_PARAMS == 5_614_592
    assert len(list(model.conv_affine_units())) == 29


def test_output_shape(embedder: FaceEmbedder, chips: dict[str, np.ndarray]) -> None:
    out = embedder.embed_chips(np.stack(list(chips.values())))
    assert out.shape == (4, 128)
    assert out.dtype == np.float32
    # Raw fc output, not L2-normalized: dlib's descriptors have norm ≈ 1.45.
    assert np.linalg.norm(out, axis=1) == pytest.approx(1.45, abs=0.15)


def test_zero_padded_add_aligns_top_left() -> None:
    main = torch.ones(1, 4, 1, 1)
    shortcut = torch.full((1, 2, 2, 2), 10.0)
    out = zero_padded_add(main, shortcut)
    assert out.shape == (1, 4, 2, 2)
    assert out[0, :2, 0, 0].tolist() == [11.0, 11.0]  # both present
    assert out[0, 2:, 0, 0].tolist() == [1.0, 1.0]  # channels only the main branch has
    assert out[0, :2, 1, 1].tolist() == [10.0, 10.0]  # pixels only the shortcut has
    assert out[0, 2:, 1, 1].tolist() == [0.0, 0.0]  # neither: zero


def test_fold_affine_keeps_the_function(model: FaceResNet, folded: FaceResNet) -> None:
    assert folded.is_folded and not model.is_folded  # folding returns a copy
    assert not any(isinstance(m, Affine) for m in folded.modules())
    x = torch.randn(2, 3, 150, 150, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=0)


def test_unfolded_model_can_be_fine_tuned() -> None:
    trainable = load_face_resnet().train()
    trainable(torch.zeros(1, 3, 150, 150)).sum().backward()
    first_affine = trainable.stem.affine
    assert isinstance(first_affine, Affine)
    assert first_affine.gamma.grad is not None and first_affine.gamma.grad.abs().sum() > 0


# --- parity with dlib ------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["unfolded", "folded"])
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_parity_with_dlib(
    name: str,
    variant: str,
    chips: dict[str, np.ndarray],
    reference: DlibReference,
    model: FaceResNet,
    folded: FaceResNet,
) -> None:
    chip = chips[name]
    net = folded if variant == "folded" else model
    ours = embed_with(net, chip[None])[0]
    theirs = reference.descriptor(chip)
    assert np.abs(ours - theirs).max() <= PARITY_TOLERANCE


def test_embedder_parity_with_dlib(
    embedder: FaceEmbedder, chips: dict[str, np.ndarray], reference: DlibReference
) -> None:
    batch = np.stack(list(chips.values()))
    theirs = np.stack([reference.descriptor(c) for c in batch])
    assert np.abs(embedder.embed_chips(batch) - theirs).max() <= PARITY_TOLERANCE


@pytest.mark.lfw
def test_parity_and_verification_on_lfw(
    lfw_dir: Path, reference: DlibReference, embedder: FaceEmbedder
) -> None:
    def lfw_chip(person: str, number: int) -> np.ndarray:
        path = lfw_dir / person / f"{person}_{number:04d}.jpg"
        return reference.chip(np.asarray(Image.open(path).convert("RGB")))

    same_pairs = [("Abdullah_Gul", 13, 14), ("John_Travolta", 4, 5), ("Johnny_Carson", 1, 2)]
    chips = np.stack([lfw_chip(p, n) for p, a, b in same_pairs for n in (a, b)])
    ours = embedder.embed_chips(chips)
    theirs = np.stack([reference.descriptor(c) for c in chips])
    assert np.abs(ours - theirs).max() <= PARITY_TOLERANCE

    distances = np.linalg.norm(ours[:, None] - ours[None], axis=-1)
    same = [distances[2 * i, 2 * i + 1] for i in range(len(same_pairs))]
    different = [distances[i, j] for i in range(6) for j in range(6) if i // 2 != j // 2]
    assert max(same) < SAME_PERSON_THRESHOLD < min(different)


# --- embedder behaviour ---------------------------------------------------------------------
def test_same_person_is_closer_than_different_people(
    embedder: FaceEmbedder, chips: dict[str, np.ndarray]
) -> None:
    e = dict(zip(chips, embedder.embed_chips(list(chips.values())), strict=True))
    same = [
        np.linalg.norm(e["astronaut"] - e["astronaut_small_mirrored"]),
        np.linalg.norm(e["grace_hopper"] - e["grace_hopper_small_mirrored"]),
    ]
    different = [
        np.linalg.norm(e[a] - e[b])
        for a in ("astronaut", "astronaut_small_mirrored")
        for b in ("grace_hopper", "grace_hopper_small_mirrored")
    ]
    assert max(same) < SAME_PERSON_THRESHOLD < min(different)


def test_batched_equals_one_by_one(embedder: FaceEmbedder, chips: dict[str, np.ndarray]) -> None:
    batch = np.stack(list(chips.values()))
    together = embedder.embed_chips(batch, batch_size=64)
    in_twos = embedder.embed_chips(batch, batch_size=2)
    one_by_one = np.stack([embedder.embed_chip(c) for c in batch])
    # Different batch sizes may pick different conv algorithms: equal up to float rounding.
    np.testing.assert_allclose(together, one_by_one, atol=1e-5, rtol=0)
    np.testing.assert_allclose(in_twos, one_by_one, atol=1e-5, rtol=0)


def test_mirror_averages_chip_and_its_flip(
    embedder: FaceEmbedder, chips: dict[str, np.ndarray]
) -> None:
    batch = np.stack([chips["astronaut"], chips["grace_hopper"]])
    mirrored = embedder.embed_chips(batch, mirror=True)
    assert mirrored.shape == (2, 128) and mirrored.dtype == np.float32
    plain = embedder.embed_chips(batch)
    flipped = embedder.embed_chips(np.ascontiguousarray(batch[:, :, ::-1]))
    np.testing.assert_allclose(mirrored, (plain + flipped) / 2, atol=1e-5, rtol=0)


def test_empty_input_gives_empty_output(embedder: FaceEmbedder) -> None:
    assert embedder.embed_chips([]).shape == (0, 128)
    assert embedder.embed_chips(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


@pytest.mark.parametrize(
    ("chips", "message"),
    [
        (np.zeros((2, 150, 150, 3), np.float32), "uint8"),
        (np.zeros((2, 112, 112, 3), np.uint8), r"\(N, 150, 150, 3\)"),
        (np.zeros((150, 150, 3), np.uint8), r"\(N, 150, 150, 3\)"),
        ([np.zeros((150, 150, 3), np.uint8), np.zeros((150, 150), np.uint8)], "chip 1"),
    ],
)
def test_bad_input_is_rejected_clearly(embedder: FaceEmbedder, chips, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        embedder.embed_chips(chips)


def test_embedder_metadata(embedder: FaceEmbedder) -> None:
    assert embedder.model_id == "dlib-resnet-v1"
    assert embedder.weights is FACE_RESNET_V1
    assert embedder.device.type == "cpu"


def test_preprocess_follows_dlib_input_convention() -> None:
    chip = np.zeros((1, 150, 150, 3), np.uint8)
    chip[0, 0, 0] = (255, 0, 128)
    x = FACE_RESNET_V1.preprocess(chip)
    assert x.shape == (1, 3, 150, 150) and x.dtype == torch.float32
    expected = (np.float32([255, 0, 128]) - np.float32([122.782, 117.001, 104.298])) / 256
    np.testing.assert_array_equal(x[0, :, 0, 0].numpy(), expected)


def test_chip_normalize_is_invertible() -> None:
    chip = np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    normalize = FACE_RESNET_V1.transforms()
    assert (normalize.inverse(normalize(chip)) == chip).all()


def test_face_cards_are_in_the_weights_registry() -> None:
    assert get_weights("dlib-resnet-v1") is FACE_RESNET_V1
    assert {w.model_id for w in ALL_FACE_WEIGHTS} <= set(list_weights())
    assert list_weights("embedder") == ["dlib-resnet-v1"]
    with pytest.raises(TypeError, match="no transforms"):
        get_weights("dlib-shape-predictor-5").transforms()
    with pytest.raises(ValueError, match="unknown model"):
        get_weights("no-such-model")


def test_concurrent_calls_give_the_same_descriptors(
    embedder: FaceEmbedder, chips: dict[str, np.ndarray]
) -> None:
    batch = np.stack(list(chips.values()))
    expected = embedder.embed_chips(batch)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: embedder.embed_chips(batch), range(4)))
    for result in results:
        np.testing.assert_array_equal(result, expected)
