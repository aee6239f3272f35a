"""Conv output shapes: the formula equals the real torch layer over a grid of settings."""

from __future__ import annotations

import itertools

import pytest

from engine.concepts.conv_shapes import (
    ConvSpec,
    ImpossibleConv,
    conv_layer,
    conv_shapes,
    formula_shape,
    output_length,
    torch_shape,
)


def _grid():
    """Every dimension × (n, k, s, p, d) combination that gives an output; 2 in, 3 filters."""
    for dims, n, k, s, p, d in itertools.product(
        (1, 2, 3), (1, 5, 8), (1, 2, 3), (1, 2, 3), (0, 1, 2), (1, 2)
    ):
        if n + 2 * p >= d * (k - 1) + 1:
            yield ConvSpec.of(dims, n, 2, 3, k, stride=s, padding=p, dilation=d)


def test_formula_equals_torch_over_a_grid():
    specs = list(_grid())
    assert len(specs) > 250
    for spec in specs:
        shapes = conv_shapes(spec)
        assert shapes.agree, spec
        assert shapes.device == "cpu"


def test_hand_computed_lengths():
    assert output_length(32, 3) == 30  # the course's "valid" convolution: n − k + 1
    assert output_length(7, 3, s=2, p=1) == 4  # ⌊(7 + 2 − 2 − 1) / 2⌋ + 1
    assert output_length(10, 3, d=2) == 6  # a dilated 3-kernel reaches 5 positions
    assert output_length(5, 5) == 1


def test_per_dimension_settings_and_parameter_count():
    spec = ConvSpec.of(2, (20, 9), 3, 4, (5, 3), stride=(2, 1), padding=(0, 1))
    assert formula_shape(spec) == torch_shape(spec) == (4, 8, 9)
    assert spec.parameters == sum(p.numel() for p in conv_layer(spec).parameters()) == 184


def test_course_notation_for_the_3d_question():
    shapes = conv_shapes(ConvSpec.of(3, 32, 16, 32, 3))
    assert shapes.formula == shapes.torch == (32, 30, 30, 30)
    assert shapes.course_notation() == "30×30×30×32"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"size": 2, "kernel": 5}, "padded input has only 2"),
        ({"size": 4, "kernel": 3, "dilation": 2}, "kernel reaches 5"),
        ({"size": 8, "kernel": 3, "stride": 0}, "stride must be at least 1"),
        ({"size": 8, "kernel": 3, "padding": -1}, "padding must be at least 0"),
    ],
)
def test_impossible_settings_raise_a_typed_error(settings, message):
    with pytest.raises(ImpossibleConv, match=message):
        conv_shapes(ConvSpec.of(2, in_channels=1, filters=1, **settings))


def test_wrong_dimension_count_is_refused():
    with pytest.raises(ImpossibleConv, match="4-D"):
        ConvSpec.of(4, 8, 1, 1, 3)
    with pytest.raises(ImpossibleConv, match="kernel needs 2 values"):
        ConvSpec.of(2, 8, 1, 1, (3, 3, 3))


def test_a_huge_layer_is_checked_on_the_meta_device():
    shapes = conv_shapes(ConvSpec.of(3, 1024, 64, 64, 3))
    assert shapes.device == "meta"
    assert shapes.formula == shapes.torch == (64, 1022, 1022, 1022)
