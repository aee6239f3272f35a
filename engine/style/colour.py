"""Colour preservation for style transfer (Gatys, Bethge, Hertzmann & Shechtman, "Preserving
Color in Neural Artistic Style Transfer", 2016).

Two ways to keep the content photo's colours: transfer only the luminance and put the photo's
chroma back (``luminance_of`` + ``match_luminance`` + ``with_chroma_of``), or recolour the style
image to the photo's colour histograms before transferring (``match_histograms``). Written here
because scikit-image, which has a histogram matcher, is only a test dependency.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ: Y is luminance, I and Q carry the colour (the paper's choice).
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → float YIQ, Y in 0–255."""
    return image.astype(np.float64) @ _RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    return np.clip(yiq @ _YIQ_TO_RGB.T + 0.5, 0, 255).astype(np.uint8)


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
    """``source`` recoloured so each RGB channel has ``reference``'s histogram: every value is
    mapped to the reference value at the same quantile (cumulative distribution)."""
    out = np.empty_like(source)
    for c in range(3):
        _values, index, counts = np.unique(source[..., c], return_inverse=True, return_counts=True)
        ref_values, ref_counts = np.unique(reference[..., c], return_counts=True)
        quantiles = np.cumsum(counts) / source[..., c].size
        ref_quantiles = np.cumsum(ref_counts) / reference[..., c].size
        mapped = np.interp(quantiles, ref_quantiles, ref_values)
        out[..., c] = np.clip(mapped[index] + 0.5, 0, 255).astype(np.uint8).reshape(out.shape[:2])
    return out
