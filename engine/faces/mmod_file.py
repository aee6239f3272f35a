"""Reader for ``mmod_human_face_detector.dat``: dlib's CNN face detector file, as plain arrays.

The file is a dlib ``loss_mmod`` network (``dnn/loss.h``, ``dnn/core.h``) read with our own
``DlibReader``: the detection options (window, non-max suppression), the pyramid input layer's
means and tile padding, and the seven convs with their affine layers (stored as batch norm,
folded on load). The wiring is not in the file: the reader knows the architecture and checks
each record's name as it goes. ``mmod_network.MmodFaceNet`` turns the result into a module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.faces.dlib_format import DlibReader
from engine.faces.model_files import MMOD_DETECTOR_FILE, model_path

# Older files (record "input_rgb_image_pyramid") do not store the tile padding: dlib's defaults.
DEFAULT_PYRAMID_PADDING = 10
DEFAULT_PYRAMID_OUTER_PADDING = 11

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
        reader.skip_layer_training_state(index == 0 and input_wrapper_version == 3)
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
