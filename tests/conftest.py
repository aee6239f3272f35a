"""Shared fixtures: real face photos that packages ship, and LFW when it is beside the repo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest_plugins = [
    "tests.browser_support",  # chromium + streamlit run fixtures, one per session
    "tests.postgres_server",  # a real PostgreSQL server, one per session
]

LFW_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (Eileen Collins): 512×512 RGB, one face."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """matplotlib's grace_hopper: 512×600 RGB portrait, one face."""
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    if not (LFW_DIR / "pairsDevTest.txt").is_file():
        pytest.skip("LFW not present at ../shared/data/lfw")
    return LFW_DIR
