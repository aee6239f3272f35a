"""The face models' weights cards: dlib's detector, 5-point landmarks and face ResNet.

Cards of ``engine.weights.Weights``, registered by model id: each says where the file comes
from, under which licence, how well it is published to perform, and how to turn raw input
into what the network expects (``weights.transforms()``), so no caller repeats the
normalization constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.faces.model_files import (
    FACE_RESNET_FILE,
    LANDMARKS_5_FILE,
    MMOD_DETECTOR_FILE,
    model_path,
)
from engine.weights import Weights, register_weights

FACE_MODELS_SOURCE = (
    "PyPI package face_recognition_models (github.com/ageitgey/face_recognition_models)"
)
FACE_MODELS_LICENCE = "CC0 (face_recognition_models); model by Davis King, Boost Software License"


@dataclass(frozen=True)
class ChipNormalize:
    """uint8 RGB chips (N, H, W, 3) → float32 tensor (N, 3, H, W): ``(pixel − mean) / scale``.

    dlib's ``input_rgb_image_sized`` subtracts a per-channel mean and divides by 256 (no
    standard deviation). The arithmetic is float32, as in dlib, so descriptors match to ~1e-6.
    """

    size: int
    mean_rgb: tuple[float, float, float]
    scale: float

    def __call__(
        self, chips: np.ndarray | torch.Tensor, device: torch.device | str | None = None
    ) -> torch.Tensor:
        batch = torch.as_tensor(chips)
        given_shape = tuple(batch.shape)
        if batch.ndim == 3:
            batch = batch.unsqueeze(0)
        if batch.dtype != torch.uint8:
            raise ValueError(f"face chips must be uint8 RGB, got {batch.dtype}")
        if batch.ndim != 4 or tuple(batch.shape[1:]) != (self.size, self.size, 3):
            raise ValueError(
                f"face chips must be (N, {self.size}, {self.size}, 3) RGB, got {given_shape}"
            )
        # Move the uint8 pixels (4× smaller than floats) before converting.
        batch = batch.to(device) if device is not None else batch
        mean = torch.tensor(self.mean_rgb, dtype=torch.float32, device=batch.device)
        x = (batch.float() - mean) / self.scale
        # Shape (N, 3, H, W) but kept in the pixels' own channels-last memory order: no copy,
        # and oneDNN's convolutions run ~30% faster on it than on NCHW.
        return x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def inverse(self, x: torch.Tensor) -> np.ndarray:
        """One network input (1, 3, H, W) or (3, H, W) → RGB uint8 chip (clipped)."""
        pixels = x.detach().float().cpu().reshape(3, *x.shape[-2:]).permute(1, 2, 0)
        pixels = pixels * self.scale + torch.tensor(self.mean_rgb)
        return pixels.clamp(0, 255).round().to(torch.uint8).numpy()


@dataclass(frozen=True, kw_only=True)
class ModelWeights(Weights[ChipNormalize]):
    """One pretrained face model file and everything a caller needs to use it correctly.

    Generic over model kinds (embedder, detector, landmarks): fields that do not apply to a
    kind are ``None``. The model id is stored beside embeddings: vectors of different models
    never mix.
    """

    filename: str
    description: str
    input_size: tuple[int, int] | None = None  # (height, width)
    embedding_dim: int | None = None
    num_params: int | None = None
    match_threshold: float | None = None  # Euclidean distance below which faces match

    def path(self) -> Path:
        """The model file on disk (``ModelFileError`` when the package is missing)."""
        return model_path(self.filename)

    def preprocess(
        self, chips: np.ndarray | torch.Tensor, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """uint8 chips (N, H, W, 3) RGB → the normalized float tensor (N, 3, H, W)."""
        return self.transforms()(chips, device)


FACE_RESNET_V1 = ModelWeights(
    name="dlib face recognition ResNet v1",
    model_id="dlib-resnet-v1",
    kind="embedder",
    filename=FACE_RESNET_FILE,
    description=(
        "29-conv ResNet (5.6M parameters) trained by Davis King on ~3M faces with a pairwise "
        "hinge loss; maps an aligned 150×150 face chip to a 128-d descriptor."
    ),
    source=FACE_MODELS_SOURCE,
    licence=FACE_MODELS_LICENCE,
    published_metric="99.38% LFW",
    input_size=(150, 150),
    input_convention=(
        "150×150 RGB uint8 chip from dlib's get_face_chip(size=150, padding=0.25); "
        "x = (pixel − (122.782, 117.001, 104.298)) / 256, channels first."
    ),
    embedding_dim=128,
    num_params=5_614_592,
    match_threshold=0.6,
    normalize=ChipNormalize(size=150, mean_rgb=(122.782, 117.001, 104.298), scale=256.0),
)


MMOD_FACE_DETECTOR = ModelWeights(
    name="dlib CNN face detector (MMOD)",
    model_id="dlib-mmod-human-face-detector",
    kind="detector",
    filename=MMOD_DETECTOR_FILE,
    description=(
        "Seven-conv network trained with max-margin object detection; scores an 80×80 "
        "window at every position of an image pyramid (each level 5/6 of the one before)."
    ),
    source=FACE_MODELS_SOURCE,
    licence=FACE_MODELS_LICENCE,
    published_metric="dlib: finds faces of about 40 px and up with upsampling; robust to pose",
    input_convention="RGB uint8 image of any size; faces of ~80 px and up (upsample for smaller)",
)

LANDMARKS_5 = ModelWeights(
    name="dlib 5-point face landmarks",
    model_id="dlib-shape-predictor-5",
    kind="landmarks",
    filename=LANDMARKS_5_FILE,
    description=(
        "Regression-tree cascade (15 levels × 500 trees) placing the eye corners and the base "
        "of the nose inside a detector box; used to align the 150×150 chip."
    ),
    source=FACE_MODELS_SOURCE,
    licence=FACE_MODELS_LICENCE,
    published_metric="dlib: trained on 7198 faces; made for dlib's detector boxes",
    input_convention="grayscale (r + g + b) // 3 of the image, inside the detector's box",
)

ALL_FACE_WEIGHTS = (MMOD_FACE_DETECTOR, LANDMARKS_5, FACE_RESNET_V1)
register_weights(*ALL_FACE_WEIGHTS)
