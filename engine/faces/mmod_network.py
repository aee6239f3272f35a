"""The CNN face detector's network (dlib's ``dnn_mmod_face_detection_ex``) as an ``nn.Module``.

Seven convs, fully convolutional: one score map per detector window. Built from the arrays
``mmod_file.read_mmod_model`` reads; ``detector.MmodFaceDetector`` runs it over the pyramid.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.errors import ModelFileError
from engine.faces.mmod_file import MmodModelFile


class ChannelAffine(nn.Module):
    """dlib's ``affine_`` layer: ``y = x · scale + shift`` per channel (frozen batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)


def _conv_affine_relu(in_ch: int, out_ch: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=5, stride=stride, padding=padding),
        ChannelAffine(out_ch),
        nn.ReLU(inplace=True),
    )


class MmodFaceNet(nn.Module):
    """The detector's fully convolutional network (dlib's ``dnn_mmod_face_detection_ex``).

    A downsampler of three 5×5 stride-2 convs (16, 32, 32 channels; padding 0, as dlib pads
    only stride-1 convs), three 5×5 convs of 45 channels, and a 9×9 conv to one score map per
    detector window. Score-map cell (r, c) sees the input window centred on
    ``(8c + 14, 8r + 14)`` (see ``cell_to_input``).
    """

    def __init__(
        self,
        downsampler_channels: Sequence[int] = (16, 32, 32),
        feature_channels: int = 45,
        num_windows: int = 1,
    ) -> None:
        super().__init__()
        c1, c2, c3 = downsampler_channels
        self.downsampler = nn.Sequential(
            _conv_affine_relu(3, c1, stride=2, padding=0),
            _conv_affine_relu(c1, c2, stride=2, padding=0),
            _conv_affine_relu(c2, c3, stride=2, padding=0),
        )
        self.features = nn.Sequential(
            _conv_affine_relu(c3, feature_channels, stride=1, padding=2),
            _conv_affine_relu(feature_channels, feature_channels, stride=1, padding=2),
            _conv_affine_relu(feature_channels, feature_channels, stride=1, padding=2),
        )
        self.score = nn.Conv2d(feature_channels, num_windows, kernel_size=9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(self.downsampler(x)))

    def fold_affine(self) -> MmodFaceNet:
        """This network with each affine folded into the conv before it (in place).

        conv then ``x·scale + shift`` is one conv with W·scale and b·scale + shift: the same
        function, about 35% faster on CPU; scores move by ~1e-5 (float32 rounding).
        """
        with torch.no_grad():
            for block in [*self.downsampler, *self.features]:
                conv, affine = block[0], block[1]
                if isinstance(affine, ChannelAffine):
                    conv.weight.mul_(affine.scale.view(-1, 1, 1, 1))
                    conv.bias.mul_(affine.scale).add_(affine.shift)
                    block[1] = nn.Identity()
        return self

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def cell_to_input(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((stride_y, offset_y), (stride_x, offset_x)): input point = stride · cell + offset.

        Composes dlib's ``con_::map_output_to_input`` (p·stride − padding + kernel/2) from the
        score map down to the input, as ``output_tensor_to_input_tensor`` does.
        """
        axes = []
        for axis in (0, 1):
            scale, offset = 1, 0
            for conv in reversed(self.conv_layers()):
                stride, pad, kernel = conv.stride[axis], conv.padding[axis], conv.kernel_size[axis]
                scale, offset = scale * stride, offset * stride - pad + kernel // 2
            axes.append((scale, offset))
        return axes[0], axes[1]

    def output_size(self, rows: int, cols: int) -> tuple[int, int]:
        """Score-map size for an input of rows × cols (≤ 0 when the input is too small)."""
        for conv in self.conv_layers():
            rows = (rows + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
            cols = (cols + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1] + 1
        return rows, cols

    @classmethod
    def from_model_file(cls, model: MmodModelFile) -> MmodFaceNet:
        convs, affines = model.convs, model.affines
        expected = [(2, 0), (2, 0), (2, 0), (1, 2), (1, 2), (1, 2), (1, 4)]
        got = [(c.stride[0], c.padding[0]) for c in convs]
        kernels = [c.kernel for c in convs]
        if (
            got != expected
            or any(c.stride[0] != c.stride[1] or c.padding[0] != c.padding[1] for c in convs)
            or kernels != [(5, 5)] * 6 + [(9, 9)]
            or len({c.weight.shape[0] for c in convs[3:6]}) != 1
        ):
            raise ModelFileError("the network's layer shapes are not those of the mmod face net")
        net = cls(
            downsampler_channels=[c.weight.shape[0] for c in convs[:3]],
            feature_channels=convs[3].weight.shape[0],
            num_windows=convs[6].weight.shape[0],
        )
        blocks = [*net.downsampler, *net.features]
        with torch.no_grad():
            for block, conv, affine in zip(blocks, convs[:6], affines, strict=True):
                block[0].weight.copy_(torch.from_numpy(conv.weight))
                block[0].bias.copy_(torch.from_numpy(conv.bias))
                block[1].scale.copy_(torch.from_numpy(affine.scale))
                block[1].shift.copy_(torch.from_numpy(affine.shift))
            net.score.weight.copy_(torch.from_numpy(convs[6].weight))
            net.score.bias.copy_(torch.from_numpy(convs[6].bias))
        return net
