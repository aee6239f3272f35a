"""Output shapes of 1-D, 2-D and 3-D convolutions: by the formula, and by the real torch layer.

Per spatial dimension (PyTorch's ``Conv1d/2d/3d`` documentation; Dumoulin & Visin, "A guide to
convolution arithmetic for deep learning", 2016):

    n_out = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1

with n the input size, k the kernel, s the stride, p the padding and d the dilation. The number
of output channels is the number of filters, whatever the dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from engine.errors import VisionLabError

CONV_LAYERS: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
MAX_REAL_MACS = 2_000_000_000
MAX_REAL_ELEMENTS = 50_000_000
"""Above this many multiply-adds or input values the torch check runs on a "meta" tensor (torch's
own shape rules, no memory, no arithmetic): a calculator must not run out of memory."""


class ImpossibleConv(VisionLabError):
    """The settings give no output (kernel wider than the padded input) or are not valid."""


@dataclass(frozen=True)
class ConvSpec:
    """One convolution layer and its input, in torch's layout (C, *spatial)."""

    size: tuple[int, ...]
    """Spatial input size, one entry per dimension (length, H × W, or D × H × W)."""
    in_channels: int
    filters: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]

    @classmethod
    def of(
        cls,
        dims: int,
        size: int | tuple[int, ...],
        in_channels: int,
        filters: int,
        kernel: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
    ) -> ConvSpec:
        """A spec with each int setting repeated over the ``dims`` spatial dimensions."""
        if dims not in CONV_LAYERS:
            raise ImpossibleConv(f"convolutions here are 1-D, 2-D or 3-D, not {dims}-D")

        def per_dim(name: str, value: int | tuple[int, ...]) -> tuple[int, ...]:
            values = (value,) * dims if isinstance(value, int) else tuple(value)
            if len(values) != dims:
                raise ImpossibleConv(f"{name} needs {dims} values, got {len(values)}")
            return tuple(int(v) for v in values)

        spec = cls(
            per_dim("size", size),
            int(in_channels),
            int(filters),
            per_dim("kernel", kernel),
            per_dim("stride", stride),
            per_dim("padding", padding),
            per_dim("dilation", dilation),
        )
        spec.validate()
        return spec

    @property
    def dims(self) -> int:
        return len(self.size)

    def validate(self) -> None:
        """Raise ``ImpossibleConv`` for settings torch would refuse."""
        if self.in_channels < 1 or self.filters < 1:
            raise ImpossibleConv("channels and filters must be at least 1")
        for name, values, least in (
            ("input size", self.size, 1),
            ("kernel", self.kernel, 1),
            ("stride", self.stride, 1),
            ("padding", self.padding, 0),
            ("dilation", self.dilation, 1),
        ):
            if min(values) < least:
                raise ImpossibleConv(f"{name} must be at least {least}, got {values}")

    @property
    def parameters(self) -> int:
        """Weights plus biases: filters × (channels × kernel volume) + filters."""
        return self.filters * (self.in_channels * math.prod(self.kernel) + 1)


def output_length(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1, or ``ImpossibleConv`` when that is below 1."""
    span = d * (k - 1) + 1  # how far one (dilated) kernel reaches
    if n + 2 * p < span:
        raise ImpossibleConv(
            f"the kernel reaches {span} positions but the padded input has only {n + 2 * p}"
        )
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def formula_shape(spec: ConvSpec) -> tuple[int, ...]:
    """(filters, *spatial output) by the formula, in torch's layout."""
    spatial = tuple(
        output_length(n, k, s, p, d)
        for n, k, s, p, d in zip(
            spec.size, spec.kernel, spec.stride, spec.padding, spec.dilation, strict=True
        )
    )
    return (spec.filters, *spatial)


def conv_layer(spec: ConvSpec) -> nn.Module:
    """The torch layer the spec describes (``nn.Conv1d``, ``nn.Conv2d`` or ``nn.Conv3d``)."""
    return CONV_LAYERS[spec.dims](
        spec.in_channels,
        spec.filters,
        spec.kernel,
        stride=spec.stride,
        padding=spec.padding,
        dilation=spec.dilation,
    )


def multiply_adds(spec: ConvSpec) -> int:
    """The layer's multiply-adds on one input (0 when the settings give no output)."""
    try:
        out = formula_shape(spec)
    except ImpossibleConv:
        return 0
    return math.prod(out) * spec.in_channels * math.prod(spec.kernel)


def check_device(spec: ConvSpec) -> str:
    """Where ``torch_shape`` runs the layer: "cpu" (real zeros) unless it is too big, "meta"."""
    small = spec.in_channels * math.prod(spec.size) <= MAX_REAL_ELEMENTS
    return "cpu" if small and multiply_adds(spec) <= MAX_REAL_MACS else "meta"


def torch_shape(spec: ConvSpec, device: str | None = None) -> tuple[int, ...]:
    """(filters, *spatial output) from running the real torch layer on a zero input.

    ``device`` None runs on the CPU unless the layer is too big to run quickly, then on the
    "meta" device (torch's own shape rules, no arithmetic).
    """
    device = device or check_device(spec)
    layer = conv_layer(spec).to(device)
    with torch.no_grad():
        try:
            out = layer(torch.zeros(1, spec.in_channels, *spec.size, device=device))
        except RuntimeError as exc:
            raise ImpossibleConv(f"torch refuses these settings: {exc}") from exc
    return tuple(out.shape[1:])


@dataclass(frozen=True)
class ConvShapes:
    """The output shape of one layer, by the formula and by torch, side by side."""

    spec: ConvSpec
    formula: tuple[int, ...]
    torch: tuple[int, ...]
    device: str
    """Where the torch layer ran: "cpu" on real zeros, "meta" for shapes only (a huge layer)."""

    @property
    def agree(self) -> bool:
        return self.formula == self.torch

    def course_notation(self, shape: tuple[int, ...] | None = None) -> str:
        """Spatial sizes then channels, as the course writes them: ``30×30×30×32``."""
        channels, *spatial = shape if shape is not None else self.formula
        return "×".join(str(v) for v in (*spatial, channels))


def conv_shapes(spec: ConvSpec) -> ConvShapes:
    """Both answers for ``spec``; ``ImpossibleConv`` when the formula gives no output."""
    formula = formula_shape(spec)
    device = check_device(spec)
    return ConvShapes(spec, formula, torch_shape(spec, device), device)


def input_notation(spec: ConvSpec) -> str:
    """The input as the course writes it: ``32×32×32×16``."""
    return "×".join(str(v) for v in (*spec.size, spec.in_channels))
