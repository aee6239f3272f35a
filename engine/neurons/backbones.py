"""The networks the neuron browser opens, as one uniform "named layers" module.

``Backbone`` runs a frozen network stage by stage and returns the activations of the stages
asked for; each stage has a name, a channel count and its receptive field, computed from the
modules' own kernel / stride / padding (``span_of``). Two families:

* ``face``: dlib's face ResNet (``engine.faces.resnet``), affine layers folded. Stages:
  ``conv1`` (7×7/2 conv + relu), ``pool1`` (3×3/2 max pool), then every residual block in
  order — ``res4a…res4c`` (32 ch, 35×35), ``down3``, ``res3a…res3c`` (64 ch), ``down2``,
  ``res2a, res2b`` (128 ch), ``down1``, ``res1a, res1b`` (256 ch), ``down0`` (256 ch, 2×2).
  Its input is a 150×150 face chip (``FACE_RESNET_V1``'s convention); an image that is not
  one is resized (shorter side 150) and centre-cropped — index aligned chips (the enrolled
  gallery's, or ``FacePipeline`` output) to see what the verification network learned on faces.
* ``vgg16`` (offline Oxford weights, Caffe BGR convention) and ``vgg19`` (torchvision's, when
  its weights are in the torch cache): Caffe-style layer names ``conv1_1, relu1_1, …, pool5``.
  Images are resized (shorter side ``input_size``, default 224) and centre-cropped.

Every image goes through ``prepare`` first, so all of a dataset's activation maps have one
size (batching, the mean activation map) and the patches are cut from exactly what the
network saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from engine.backbones import VGG_NAMES
from engine.backbones.named_layers import named_activations
from engine.faces.resnet import ConvAffine, DownBlock, ResidualBlock
from engine.neurons.errors import UnknownLayer
from engine.neurons.receptive_field import IDENTITY, ReceptiveField, Span, chain, conv, union
from engine.weights import Weights

BACKBONES = ("face", *VGG_NAMES)


def span_of(module: nn.Module) -> Span:
    """How a module's output indices map to its input indices (see ``receptive_field``).

    dlib's down block adds a 3×3/2 unpadded conv branch to a 2×2/2 average-pool shortcut,
    aligned top-left by ``zero_padded_add``: output i of both reads from input row 2i on, so
    the union is exact. (Where the main branch is one row shorter than the shortcut, its last
    row of units sees only the shortcut's 2×2 window: the field we report is the larger one.)
    """
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        kernel, stride, padding = (
            _single(getattr(module, a)) for a in ("kernel_size", "stride", "padding")
        )
        dilation = _single(getattr(module, "dilation", 1))
        if dilation != 1:
            raise NotImplementedError("dilated kernels")
        return conv(kernel, stride, padding)
    if isinstance(module, (nn.ReLU, nn.Identity)):
        return IDENTITY
    if isinstance(module, ConvAffine):
        return span_of(module.conv)
    if isinstance(module, ResidualBlock):
        return union(chain(span_of(module.branch1), span_of(module.branch2)), IDENTITY)
    if isinstance(module, DownBlock):
        main = chain(span_of(module.branch1), span_of(module.branch2))
        return union(main, span_of(module.shortcut))
    if isinstance(module, nn.Sequential):
        return chain(*(span_of(m) for m in module))
    raise TypeError(f"no receptive-field rule for {type(module).__name__}")


def _single(value: int | tuple[int, ...]) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise NotImplementedError(f"non-square geometry {value}")
        return value[0]
    return value


@dataclass(frozen=True)
class Layer:
    """One named stage: its channels and where each of its units looks in the input image."""

    name: str
    channels: int
    receptive_field: ReceptiveField


def _out_channels(module: nn.Module, channels: int) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels if convs else channels


def prepare_image(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 image → a ``size``×``size`` square: shorter side resized, centre crop.

    A function, not only a method, so patches can be cut from an index without its network.
    """
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(image)
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    resized = Image.fromarray(np.ascontiguousarray(image)).resize(
        (new_w, new_h), Image.Resampling.BICUBIC
    )
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.array(resized.crop((left, top, left + size, top + size)))


class Backbone(nn.Module):
    """A frozen ConvNet as named stages in order, with its input convention.

    ``backbone(x, ["relu1_1", "relu5_3"])`` runs only as deep as the deepest layer asked for.
    """

    def __init__(
        self,
        name: str,
        title: str,
        stages: list[tuple[str, nn.Module]],
        input_size: int,
        *,
        weights: Weights,
        bgr: bool,
    ) -> None:
        super().__init__()
        self.name, self.title, self.input_size, self.bgr = name, title, input_size, bgr
        self.weights = weights
        self.stage_names = [n for n, _ in stages]
        self.stages = nn.ModuleList(m for _, m in stages).eval().requires_grad_(False)
        for module in self.stages.modules():
            if isinstance(module, nn.ReLU):
                # An in-place relu would overwrite the conv output we return for "convN_M".
                module.inplace = False
        self.layers: list[Layer] = []
        span, channels = IDENTITY, 3
        for stage_name, module in stages:
            span = span.then(span_of(module))
            channels = _out_channels(module, channels)
            self.layers.append(Layer(stage_name, channels, ReceptiveField.of(span)))

    @property
    def layer_names(self) -> list[str]:
        return list(self.stage_names)

    @property
    def first_conv_layers(self) -> list[str]:
        """The stages whose units are one conv's output (plus relu / pool): their channels are
        the first conv's filters, which can be drawn as RGB tiles."""
        names, convs = [], 0
        for name, module in zip(self.stage_names, self.stages, strict=True):
            convs += sum(isinstance(m, nn.Conv2d) for m in module.modules())
            if convs > 1:
                break
            if convs == 1:
                names.append(name)
        return names

    def layer(self, name: str) -> Layer:
        """The stage called ``name`` (``UnknownLayer`` lists the valid ones)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise UnknownLayer(
            f"{self.name} has no layer {name!r}; layers: {', '.join(self.stage_names)}"
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- input convention ---------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 image → the ``input_size`` square the network sees."""
        return prepare_image(image, self.input_size)

    def to_tensor(self, images: np.ndarray) -> Tensor:
        """Prepared uint8 images (N, S, S, 3) → the network's input tensor on its device."""
        raise NotImplementedError

    def to_image(self, x: Tensor) -> np.ndarray:
        """One network input (1, 3, H, W) → RGB uint8 (clipped): the inverse of ``to_tensor``."""
        return self.weights.transforms().inverse(x)

    def first_conv_filters(self) -> np.ndarray:
        """The first conv's kernels as (C, k, k, 3) RGB floats (BGR networks flipped)."""
        first = next(m for m in self.stages.modules() if isinstance(m, nn.Conv2d))
        kernels = first.weight.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        return kernels[..., ::-1].copy() if self.bgr else kernels

    # --- running ------------------------------------------------------------------------
    def forward(self, x: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        wanted = {self.layer(name).name for name in layers}
        return named_activations(self.stage_names, self.stages, x, wanted)


class FaceBackbone(Backbone):
    def to_tensor(self, images: np.ndarray) -> Tensor:
        return self.weights.transforms()(images, self.device)


class VGGBackbone(Backbone):
    def to_tensor(self, images: np.ndarray) -> Tensor:
        to_tensor = self.weights.transforms()
        return torch.cat([to_tensor(image, self.device) for image in images])


def _face_stages() -> list[tuple[str, nn.Module]]:
    from engine.faces.resnet import load_face_resnet

    net = load_face_resnet().fold_affine()
    stages: list[tuple[str, nn.Module]] = [
        ("conv1", nn.Sequential(net.stem, nn.ReLU())),
        ("pool1", net.stem_pool),
    ]
    for level in (4, 3, 2, 1, 0):
        residual = 0
        for block in getattr(net, f"level{level}"):
            if isinstance(block, DownBlock):
                stages.append((f"down{level}", block))
            else:
                stages.append((f"res{level}{'abc'[residual]}", block))
                residual += 1
    return stages


def load_backbone(
    name: str,
    *,
    device: torch.device | str = "cpu",
    input_size: int | None = None,
    allow_download: bool = False,
) -> Backbone:
    """``face``, ``vgg16`` (offline) or ``vgg19`` (``ModelFileError`` unless its weights are in
    the torch cache or ``allow_download``). ``input_size`` applies to the VGGs only: the face
    network's input is a 150×150 chip."""
    if name == "face":
        from engine.faces.resnet import CHIP_SIZE
        from engine.faces.weights import FACE_RESNET_V1

        backbone: Backbone = FaceBackbone(
            "face",
            "dlib face ResNet (150×150 chips)",
            _face_stages(),
            CHIP_SIZE,
            weights=FACE_RESNET_V1,
            bgr=False,
        )
        return backbone.to(device, memory_format=torch.channels_last)
    if name in ("vgg16", "vgg19"):
        from engine.backbones.vgg import VGGFeatures

        vgg = VGGFeatures.load(name, allow_download=allow_download)
        weights = vgg.weights
        stages = list(zip(vgg.names, vgg.features, strict=True))
        title = f"{name.upper()} ImageNet ({weights.input_convention.split(':')[0]})"
        return VGGBackbone(
            name,
            title,
            stages,
            input_size or 224,
            weights=weights,
            bgr=weights.transforms().bgr,
        ).to(device)
    raise UnknownLayer(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


def available_backbones() -> list[str]:
    """The backbones that load without a download: face, vgg16, and vgg19 when cached."""
    from engine.backbones.vgg import vgg19_available

    return ["face", "vgg16"] + (["vgg19"] if vgg19_available() else [])
