"""Turn whatever a user hands us (path, bytes, PIL image, array) into an RGB uint8 array.

Every decoding problem becomes ``InvalidImage`` with a sentence a user understands; the
pixel-count guard runs on the header, before any pixel is decoded.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InvalidImage

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
"""The file names read as images wherever a folder, zip or upload is scanned."""

ImageSource = str | Path | bytes | bytearray | BinaryIO | Image.Image | np.ndarray

DEFAULT_MAX_PIXELS = 50_000_000


def load_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``source`` to an (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Grayscale, RGBA, palette, CMYK and 16-bit images are converted to 8-bit RGB (alpha is
    composited on white). Raises ``InvalidImage`` for unreadable data and for images over
    ``max_pixels`` pixels.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels)
        return _pil_to_rgb(source)
    image = _open(source, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Damaged metadata ("Corrupt EXIF data") is a warning: the pixels still decode, and
            # a one-line CLI error or a page must not gain a Python warning on stderr.
            warnings.simplefilter("ignore", UserWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
        return _pil_to_rgb(image)
    except InvalidImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"the image data is damaged or truncated ({_reason(exc)})") from exc
    finally:
        image.close()


def require_uint8_image(image: np.ndarray, purpose: str) -> np.ndarray:
    """``image`` as an (H, W, 3) RGB or (H, W) gray uint8 array, or ``InvalidImage``."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise InvalidImage(
            f"{purpose} need an (H, W, 3) RGB or (H, W) gray uint8 image, got "
            f"{image.dtype} {image.shape}"
        )
    return image


def fit_max_side(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its long side is at most ``max_side``; return it and the scale used."""
    h, w = image.shape[:2]
    long_side = max(h, w)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized), scale


def _open(source: ImageSource, max_pixels: int) -> Image.Image:
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise InvalidImage("the file is empty")
        stream: BinaryIO | Path = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        stream = Path(source)
        if not stream.is_file():
            raise InvalidImage(f"no such image file: {stream.name}")
        if stream.stat().st_size == 0:
            raise InvalidImage(f"the file {stream.name} is empty")
    else:
        stream = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # damaged metadata; see load_image
            image = Image.open(stream)
    except UnidentifiedImageError as exc:
        raise InvalidImage(
            "this is not an image format we can read (JPEG, PNG, WebP, …), or the file is damaged"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow: "Image size (N pixels) …"
        size = f"{int(claimed[1]) / 1e6:,.0f} megapixels, " if claimed else ""
        raise InvalidImage(
            f"the image has far more pixels than can be opened safely ({size}over the limit of "
            f"{max_pixels / 1e6:.0f} megapixels; a decompression bomb?)"
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage(f"the image could not be read ({_reason(exc)})") from exc
    try:
        _check_size(image.size, max_pixels)
    except InvalidImage:
        image.close()
        raise
    return image


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise InvalidImage(f"the image has no pixels ({w}×{h})")
    if w * h > max_pixels:
        raise InvalidImage(
            f"the image is {w}×{h} = {w * h / 1e6:.0f} megapixels, over the limit of "
            f"{max_pixels / 1e6:.0f} megapixels"
        )


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _array_to_rgb(np.asarray(image))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Arrays: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, 16-bit or float in [0, 1]."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InvalidImage(f"an image array must be H×W, H×W×3 or H×W×4, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise InvalidImage(f"the image has no pixels ({a.shape})")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.integer):
        a = _integers_to_uint8(a)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InvalidImage("the image array contains NaN or infinite values")
        top = 255.0 if a.max(initial=0) > 1.0 else 1.0
        a = np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8)
    else:
        raise InvalidImage(f"unsupported image array type {a.dtype}")
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=-1)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255
        a = (a[:, :, :3] * alpha + 255 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _integers_to_uint8(a: np.ndarray) -> np.ndarray:
    """8-bit data passes through; 16-bit (and 32-bit holding 16-bit values) is scaled down."""
    if a.dtype == np.uint8:
        return a
    low, high = int(a.min(initial=0)), int(a.max(initial=0))
    if low >= 0 and high <= 255 and a.dtype.itemsize == 1:
        return a.astype(np.uint8)
    top = 65535 if high <= 65535 else high
    return (np.clip(a, 0, None).astype(np.float64) * (255.0 / top) + 0.5).astype(np.uint8)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
