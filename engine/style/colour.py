"""Colour preservation for style transfer (Gatys, Bethge, Hertzmann & Shechtman, "Preserving
Color in Neural Artistic Style Transfer", 2016).

Two ways to keep the content photo's colours: transfer only the luminance and put the photo's
chroma back (``luminance_of`` + ``match_luminance`` + ``with_chroma_of``), or recolour the style
image to the photo's colour histograms before transferring (``match_histograms``). The colour
space (NTSC YIQ, the paper's choice: Y is luminance, I and Q carry the colour) and the histogram
matcher are scikit-image's; what is ours is the paper's recipe on top of them.
"""

from __future__ import annotations

import numpy as np
from skimage import color, exposure


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → float YIQ, Y in 0–255."""
    return color.rgb2yiq(image.astype(np.float64) / 255.0) * 255.0


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """Float YIQ (Y in 0–255) → uint8 RGB, out-of-gamut colours clipped."""
    rgb = color.yiq2rgb(np.asarray(yiq, dtype=np.float64) / 255.0) * 255.0
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def luminance_of(image: np.ndarray) -> np.ndarray:
    """The image's luminance as a gray RGB image (Y in all three channels), uint8."""
    y = np.clip(rgb_to_yiq(image)[..., 0] + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(y[..., None], 3, axis=2)


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The style's luminance shifted and scaled to the content's mean and spread (section 2.2
    of the paper), so the transfer does not change the photo's overall brightness."""
    y_s = rgb_to_yiq(style)[..., 0]
    y_c = rgb_to_yiq(content)[..., 0]
    y = (y_s - y_s.mean()) * (y_c.std() / max(y_s.std(), 1e-6)) + y_c.mean()
    y = np.clip(y + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(y[..., None], 3, axis=2)


def with_chroma_of(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized image's luminance Y with the content's colour channels I and Q."""
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = rgb_to_yiq(stylized)[..., 0]
    return yiq_to_rgb(yiq)


def match_histograms(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``source`` recoloured so each RGB channel has ``reference``'s histogram (every value
    mapped to the reference value at the same quantile)."""
    matched = exposure.match_histograms(source, reference, channel_axis=-1)
    return np.clip(matched + 0.5, 0, 255).astype(np.uint8)
