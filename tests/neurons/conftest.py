"""Shared fixtures: the two backbones (loaded once) and a small folder of package photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.neurons.backbones import Backbone, load_backbone

VGG_TEST_SIZE = 64
"""VGG runs on 64-px inputs in tests: every layer through relu3_3 still has a 16×16 map."""


@pytest.fixture(scope="session")
def face_backbone() -> Backbone:
    return load_backbone("face")


@pytest.fixture(scope="session")
def vgg_backbone() -> Backbone:
    return load_backbone("vgg16", input_size=VGG_TEST_SIZE)


def photos(astronaut: np.ndarray, grace_hopper: np.ndarray) -> list[np.ndarray]:
    """Twelve different images: four package photos, mirrored, and cropped."""
    from skimage import data

    base = [astronaut, grace_hopper, data.coffee(), data.chelsea()]
    out = list(base)
    out += [np.ascontiguousarray(p[:, ::-1]) for p in base]
    out += [np.ascontiguousarray(p[40:-60, 30:-90]) for p in base]
    return out


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """12 photos in two sub-folders (LFW-like ``<group>/<image>``), PNG so pixels are exact."""
    root = tmp_path_factory.mktemp("images")
    for i, pixels in enumerate(photos(astronaut, grace_hopper)):
        path = root / f"group{i % 2}" / f"img_{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(path)
    return root
