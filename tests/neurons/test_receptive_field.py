"""Receptive fields: the analytic size / stride / offset equal a gradient-based measurement.

The measurement makes the network's geometry visible to autograd: a copy of the backbone with
every conv's weights positive (one channel each, same kernel, stride and padding), positive
biases and a positive input (so every relu passes its gradient), and max pools swapped for
average pools of the same window (so every pixel of a window gets gradient). The input pixels
with non-zero gradient of one unit's output are then exactly the pixels it reads.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from engine.neurons.backbones import Backbone, span_of
from engine.neurons.receptive_field import ReceptiveField, chain, conv, union


def _geometry_probe(backbone: Backbone) -> Backbone:
    """A copy whose every conv keeps its kernel, stride and padding but has one output channel
    (weights 1/fan-in, bias 0.1), and whose max pools are average pools of the same window.

    Only geometry decides which pixels a unit reads; one channel makes the probe cheap.
    """
    probe = copy.deepcopy(backbone)
    first = True
    for module in list(probe.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
            elif isinstance(child, nn.Conv2d):
                thin = nn.Conv2d(
                    3 if first else 1, 1, child.kernel_size, child.stride, child.padding
                )
                first = False
                with torch.no_grad():
                    thin.weight.fill_(1.0 / thin.weight[0].numel())
                    thin.bias.fill_(0.1)
                setattr(module, name, thin)
    return probe.float().to(memory_format=torch.contiguous_format)


def _measured_boxes(
    backbone: Backbone, size: int, units: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int, int, int]]:
    """(top, left, bottom, right) of the input pixels each unit reads (keys ``layer@what``);
    one forward pass for all of them."""
    probe = _geometry_probe(backbone)
    x = (1.0 + torch.rand(1, 3, size, size)).requires_grad_(True)
    outputs = probe(x, {unit.split("@")[0] for unit in units})
    boxes = {}
    for name, (y, x_) in units.items():
        out = outputs[name.split("@")[0]]
        (grad,) = torch.autograd.grad(out[0, :, y, x_].sum(), x, retain_graph=True)
        reads = (grad[0] != 0).any(dim=0).numpy()
        rows, cols = np.flatnonzero(reads.any(axis=1)), np.flatnonzero(reads.any(axis=0))
        boxes[name] = (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1)
    return boxes


def _assert_reads(measured: tuple, field: ReceptiveField, y: int, x: int, size: int) -> None:
    """Every side of the analytic field that lies inside the image is where the measured one is;
    a side beyond the image is clipped there (stride-2 unpadded convs may also leave the last
    image row unread, so such a side is only bounded)."""
    for side, (got, want) in enumerate(zip(measured, field.box(y, x), strict=True)):
        if 0 <= want <= size:
            assert got == want, ("top", "left", "bottom", "right")[side]
        else:
            assert 0 <= got <= size


def test_span_algebra_matches_hand_computation() -> None:
    # Two 3×3 convs then a 2×2/2 pool: field 6, stride 2, first pixel −2 (VGG's pool1).
    pool1 = ReceptiveField.of(chain(conv(3, 1, 1), conv(3, 1, 1), conv(2, 2)))
    assert (pool1.size, pool1.stride, pool1.start) == (6, 2, -2)
    assert pool1.box(3, 0) == (4, -2, 10, 4)
    assert pool1.center(0) == 0.5
    # A residual block reads what its longer branch reads.
    assert union(chain(conv(3, 1, 1), conv(3, 1, 1)), conv(1)) == chain(conv(5, 1, 2))
    with pytest.raises(ValueError, match="strides"):
        union(conv(3, 2), conv(3, 1))


def test_vgg16_fields_are_the_published_ones(vgg_backbone: Backbone) -> None:
    fields = {layer.name: layer.receptive_field for layer in vgg_backbone.layers}
    assert (fields["conv5_3"].size, fields["conv5_3"].stride) == (196, 16)
    assert (fields["pool5"].size, fields["pool5"].stride, fields["pool5"].start) == (212, 32, -90)
    assert fields["relu1_1"] == fields["conv1_1"] == ReceptiveField(3, 1, -1)


def test_vgg16_fields_equal_gradient_measurement(vgg_backbone: Backbone) -> None:
    size = 224
    layers = ["conv1_1", "pool1", "relu2_2", "pool2", "relu3_3", "relu4_3", "pool4", "pool5"]
    # A unit in the middle (field inside the image) and a corner unit (field clipped).
    units = {
        f"{n}@mid": (size // vgg_backbone.layer(n).receptive_field.stride // 2,) * 2 for n in layers
    }
    units |= {f"{n}@corner": (0, 1) for n in layers}
    measured = _measured_boxes(vgg_backbone, size, units)
    for unit, (y, x) in units.items():
        field = vgg_backbone.layer(unit.split("@")[0]).receptive_field
        if unit.endswith("@mid"):
            assert measured[unit] == field.box(y, x), unit  # wholly inside: all four sides
        _assert_reads(measured[unit], field, y, x, size)


def test_face_resnet_fields_equal_gradient_measurement(face_backbone: Backbone) -> None:
    # 300 px input: the down blocks' branches differ in size at level 2 (17 vs 18 rows), so
    # dlib's zero-padded add is exercised. Deep fields outgrow the image: their corner units
    # (0, 0) and (1, 1) still pin the bottom/right sides, hence size, start and stride.
    size = 300
    units = {"conv1@mid": (70, 71), "pool1@mid": (35, 30), "res4c@mid": (36, 36)}
    units |= {"down3@mid": (18, 17), "res3c@mid": (18, 18)}
    for name in ("down2", "res2a", "res2b", "down1", "res1a", "down0"):
        units |= {f"{name}@corner": (0, 0), f"{name}@next": (1, 1)}
    measured = _measured_boxes(face_backbone, size, units)
    for unit, (y, x) in units.items():
        field = face_backbone.layer(unit.split("@")[0]).receptive_field
        if unit.endswith("@mid"):
            assert measured[unit] == field.box(y, x), unit
        _assert_reads(measured[unit], field, y, x, size)


def test_face_down_block_shortcut_only_row(face_backbone: Backbone) -> None:
    """Where dlib's add pads the shorter main branch (down2's last row at 300 px), the unit
    reads only the 2×2 shortcut window: inside the reported field, never outside it."""
    size, y = 300, 17  # down2 has 18 rows; its main branch 17
    measured = _measured_boxes(face_backbone, size, {"down2": (y, 8)})["down2"]
    field = face_backbone.layer("down2").receptive_field
    top, _, bottom, _ = field.box(y, 8)
    assert top <= measured[0] and measured[2] <= bottom
    assert measured[2] - measured[0] < field.size  # smaller than the main branch's field


def test_span_of_rejects_unknown_modules() -> None:
    with pytest.raises(TypeError, match="no receptive-field rule"):
        span_of(nn.Upsample(scale_factor=2))
