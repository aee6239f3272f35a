"""1-D and 3-D convolutions on the synthetic signals: the same sliding dot product as a 2-D
conv layer, with a kernel that slides along one axis (time) or three (a volume).

The kernels are fixed by hand so the output has a meaning a student can check: a QRS template
matched along the EKG, a 3-D Laplacian that lights up the edges of the scan's structures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.concepts.conv_shapes import ConvSpec, conv_layer


@dataclass(frozen=True)
class ConvDemo:
    """A real ``nn.Conv1d`` / ``nn.Conv3d`` applied to a signal: input, kernel, output."""

    spec: ConvSpec
    kernel: np.ndarray
    output: np.ndarray
    """(*spatial output) float32: the one filter's response."""


def _run(spec: ConvSpec, kernel: np.ndarray, signal: np.ndarray) -> ConvDemo:
    layer: nn.Module = conv_layer(spec)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel).reshape(layer.weight.shape))
        layer.bias.zero_()
        out = layer(torch.from_numpy(np.ascontiguousarray(signal, np.float32))[None, None])
    return ConvDemo(spec, kernel, out[0, 0].numpy())


def qrs_template(rate: int = 250) -> np.ndarray:
    """A zero-mean Q-R-S shape, 80 ms long: the kernel of a matched filter for heartbeats."""
    t = (np.arange(round(0.08 * rate)) - round(0.04 * rate)) / rate
    shape = np.exp(-0.5 * (t / 0.012) ** 2) - 0.3 * np.exp(-0.5 * (t / 0.03) ** 2)
    shape -= shape.mean()
    return (shape / np.linalg.norm(shape)).astype(np.float32)


def ekg_matched_filter(signal: np.ndarray, rate: int = 250) -> ConvDemo:
    """Conv1d(1 → 1, kernel 80 ms, no padding) of the EKG with the QRS template: peaks at beats.

    (A conv layer computes cross-correlation, so the template is used as is, not flipped.)
    """
    kernel = qrs_template(rate)
    spec = ConvSpec.of(1, len(signal), 1, 1, len(kernel))
    return _run(spec, kernel, signal)


LAPLACIAN_3D = np.zeros((3, 3, 3), np.float32)
LAPLACIAN_3D[1, 1, :] = LAPLACIAN_3D[1, :, 1] = LAPLACIAN_3D[:, 1, 1] = 1.0
LAPLACIAN_3D[1, 1, 1] = -6.0
"""The 6-neighbour discrete Laplacian: 0 inside flat regions, large at edges."""


def volume_edges(volume: np.ndarray) -> ConvDemo:
    """Conv3d(1 → 1, 3×3×3 Laplacian, padding 1) of the volume: same size, edges lit up."""
    spec = ConvSpec.of(3, volume.shape, 1, 1, 3, padding=1)
    return _run(spec, LAPLACIAN_3D, volume)
