"""Colour preservation (luminance-only, histogram matching) and the fast feed-forward preview."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InvalidImage
from engine.style import colour
from engine.style.fast import FastStylizer


def test_luminance_and_chroma_recombine_to_the_original(small_content) -> None:
    gray = colour.luminance_of(small_content)
    assert (gray[..., 0] == gray[..., 2]).all()
    back = colour.with_chroma_of(gray, small_content)
    assert np.abs(back.astype(int) - small_content).max() <= 2
    # The stylized luminance is kept: a uniform gray image takes the content's colours only.
    flat = np.full_like(small_content, 128)
    y = colour.rgb_to_yiq(colour.with_chroma_of(flat, small_content))[..., 0]
    assert np.abs(y - 128).max() < 12  # only clipping of out-of-gamut colours moves Y


def test_match_luminance_takes_the_content_mean_and_spread(small_content, small_style) -> None:
    matched = colour.match_luminance(small_style, small_content)[..., 0].astype(float)
    y_c = colour.rgb_to_yiq(small_content)[..., 0]
    assert matched.mean() == pytest.approx(y_c.mean(), abs=1.5)
    assert matched.std() == pytest.approx(y_c.std(), rel=0.05)


def test_histogram_matching_gives_the_reference_histograms(small_content, small_style) -> None:
    matched = colour.match_histograms(small_style, small_content)
    for c in range(3):
        quantiles = np.linspace(0.05, 0.95, 10)
        np.testing.assert_allclose(
            np.quantile(matched[..., c], quantiles),
            np.quantile(small_content[..., c], quantiles),
            atol=6,
        )


@pytest.fixture(scope="module")
def fast() -> FastStylizer:
    return FastStylizer("cpu", threads=1)


def test_fast_preview_strength_and_mixing(fast, small_content, small_style) -> None:
    strong = fast.stylize(small_content, small_style)
    assert strong.image.shape == (48, 48, 3) and strong.milliseconds > 0
    own = fast.stylize(small_content, small_style, strength=0.0)
    half = fast.stylize(small_content, small_style, strength=0.5)

    # Strength 0 uses the content's own style vector: closer to the photo than strength 1.
    def distance(result) -> float:
        return float(np.abs(result.image.astype(int) - small_content).mean())

    assert distance(own) < distance(half) < distance(strong)
    mixed = fast.stylize(small_content, [small_style, small_content], blend=[0.5, 0.5])
    assert not np.array_equal(mixed.image, strong.image)
    vector = fast.style_vector(small_style)
    assert vector.shape == (100,)


def test_fast_preview_sizes_and_errors(fast, small_content, small_style) -> None:
    gray_thin = small_content[:30, :7].mean(axis=2).astype(np.uint8)
    assert fast.stylize(gray_thin, small_style).image.shape == (30, 7, 3)
    capped = fast.stylize(small_content, small_style, size=5000, max_side=96)
    assert capped.image.shape == (96, 96, 3) and "96 px" in capped.notices[0]
    with pytest.raises(ValueError, match="strength"):
        fast.stylize(small_content, small_style, strength=1.5)
    with pytest.raises(InvalidImage):
        fast.stylize(b"", small_style)
