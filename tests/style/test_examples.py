"""The Style transfer page's example images: shipped by a runtime dependency, read as files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.style.examples import CONTENT_EXAMPLES, STYLE_EXAMPLES, available, load_example

ROOT = Path(__file__).resolve().parents[2]


def test_the_app_install_ships_the_examples() -> None:
    """The app's quick start installs requirements.txt only: the examples' package is in it."""
    runtime = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "scikit-image==" in runtime
    assert len(available(CONTENT_EXAMPLES)) >= 4 and len(available(STYLE_EXAMPLES)) == 6


def test_examples_load_as_rgb_and_unknown_names_are_refused() -> None:
    for name in available(STYLE_EXAMPLES)[:2]:
        image = load_example(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    with pytest.raises(KeyError, match="no installed example"):
        load_example("Mona Lisa")
