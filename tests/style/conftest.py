"""Shared fixtures for the style-transfer tests: the VGG16 stack loaded once, tiny images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.backbones.vgg import VGGFeatures


@pytest.fixture(scope="session")
def vgg16() -> VGGFeatures:
    """The whole offline VGG16 conv stack; runs slice it instead of reloading it."""
    return VGGFeatures.load("vgg16")


def shrink(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
    return np.array(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


@pytest.fixture(scope="session")
def small_content() -> np.ndarray:
    from skimage import data

    return shrink(data.astronaut(), 48)


@pytest.fixture(scope="session")
def small_style() -> np.ndarray:
    from skimage import data

    return shrink(data.coffee(), 48)


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """One intra-op thread for these tiny images: on a shared 2-core machine, two threads
    waiting on each other made a 48 px step 4× slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
