"""bfloat16 passes through VGG: the format chosen, J and its gradient close to float32, the
shared network left alone, the first L-BFGS step, and stopping at a target loss (checked in
float32)."""

from __future__ import annotations

import pytest
import torch

from engine.backbones.vgg import VGG16_CAFFE
from engine.style import StyleOptions, load_network, stylize
from engine.style.precision import compute_dtype, compute_network, native_bfloat16
from engine.style.transfer import _Problem


def test_compute_dtype_follows_the_option_and_the_hardware() -> None:
    cpu = torch.device("cpu")
    assert compute_dtype("float32", cpu) == torch.float32
    assert compute_dtype("bfloat16", cpu) == torch.bfloat16
    expected = torch.bfloat16 if native_bfloat16(cpu) else torch.float32
    assert compute_dtype("auto", cpu) == expected
    assert native_bfloat16(torch.device("meta")) is False


def test_bfloat16_j_and_gradient_are_close_to_float32(vgg16, small_content, small_style) -> None:
    options = StyleOptions(beta=1e3)
    net = load_network(options, network=vgg16)
    half = compute_network(net, torch.bfloat16)
    exact = _Problem(net, net, torch.float32, small_content, [small_style], [1.0], options, "cpu")
    rounded = _Problem(
        net, half, torch.bfloat16, small_content, [small_style], [1.0], options, "cpu"
    )
    noise = torch.randn(1, 3, *small_content.shape[:2], generator=torch.Generator().manual_seed(0))
    g = (VGG16_CAFFE.transforms()(small_content) + 30 * noise).requires_grad_(True)
    j32 = exact.costs(g)[0]
    (grad32,) = torch.autograd.grad(j32, g)
    j16 = rounded.costs(g)[0]
    (grad16,) = torch.autograd.grad(j16, g)
    assert j16.dtype == torch.float32  # the costs themselves stay float32
    assert j16.item() == pytest.approx(j32.item(), rel=2e-2)
    cosine = torch.nn.functional.cosine_similarity(grad16.flatten(), grad32.flatten(), dim=0)
    assert cosine > 0.98
    assert rounded.costs(g, exact=True)[0].item() == pytest.approx(j32.item(), rel=1e-6)
    # The shared network is untouched: still float32, in its own layout.
    assert all(p.dtype == torch.float32 for p in vgg16.parameters())
    assert compute_network(net, torch.float32) is net


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_first_steps_never_raise_j(vgg16, small_content, small_style, precision) -> None:
    """L-BFGS's first step moves G by a grey level: with lr 1 it moved G by 1e-5 of one, the
    first curvature pair was bfloat16 noise and the second step sent J up 1e15-fold."""
    options = StyleOptions(size=64, steps=5, precision=precision)
    result = stylize(small_content, small_style, options, network=vgg16)
    totals = [h.total for h in result.history]
    assert max(totals) <= totals[0] * 1.001
    assert totals[-1] < 0.7 * totals[0]
    assert result.dtype == precision


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_stops_at_a_target_loss_checked_in_float32(
    vgg16, small_content, small_style, precision
) -> None:
    reference = stylize(
        small_content, small_style, StyleOptions(size=48, steps=6, precision="float32"),
        network=vgg16,
    )  # fmt: skip
    target = reference.history[-1].total
    options = StyleOptions(size=48, steps=40, precision=precision, target_loss=target)
    result = stylize(small_content, small_style, options, network=vgg16)
    assert result.target_reached is True
    assert len(result.history) < 40
    # The returned image's J, in float32, is at or below the target (to uint8 rounding).
    net = load_network(result.options, network=vgg16)
    exact = _Problem(
        net, net, torch.float32, small_content, [small_style], [1.0], result.options, "cpu"
    )
    with torch.no_grad():
        final = exact.costs(VGG16_CAFFE.transforms()(result.image))[0].item()
    assert final <= target * 1.05

    unreachable = stylize(
        small_content, small_style, StyleOptions(size=48, steps=3, target_loss=1.0),
        network=vgg16,
    )  # fmt: skip
    assert unreachable.target_reached is False and len(unreachable.history) == 3
    assert reference.target_reached is None
    assert reference.as_dict()["dtype"] == "float32"


def test_unknown_precision_is_refused(vgg16, small_content, small_style) -> None:
    with pytest.raises(ValueError, match="precision"):
        stylize(
            small_content, small_style, StyleOptions(size=32, steps=1, precision="fp8"),
            network=vgg16,
        )  # fmt: skip
