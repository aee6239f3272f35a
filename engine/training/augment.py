"""Light augmentation of face chips for training: flip, crop jitter, colour.

Fine-tuning reads the frozen trunk's features of each chip, computed once, so augmentation is
a bank of views made up front (``augmented_views``): view 0 is the chip itself, the others are
random variations, and each batch takes one view per sample at random (``train_projection(...,
views=True)``). Kept light on purpose: the chips are already aligned by their landmarks, so a
big shift or rotation would teach the network a misalignment it never sees at test time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance

MAX_SHIFT = 6
"""Pixels of crop jitter either way (of 150)."""
SCALE_RANGE = (0.95, 1.05)
COLOUR_RANGE = (0.8, 1.2)
"""Brightness, contrast and saturation factors."""


def augment_chip(chip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random variation of a uint8 RGB chip (H, W, 3), same shape."""
    height, width = chip.shape[:2]
    image = Image.fromarray(chip[:, ::-1] if rng.random() < 0.5 else chip)
    scale = rng.uniform(*SCALE_RANGE)
    dx, dy = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=2)
    # Sample a (width / scale)-wide window centred (dx, dy) off the chip's centre.
    half_w, half_h = width / scale / 2, height / scale / 2
    cx, cy = width / 2 + dx, height / 2 + dy
    box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    image = image.transform((width, height), Image.Transform.EXTENT, box, Image.Resampling.BILINEAR)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(rng.uniform(*COLOUR_RANGE))
    return np.asarray(image, dtype=np.uint8)


def augmented_views(chips: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """(N, count, H, W, 3): each chip as is (view 0) and ``count - 1`` random variations."""
    if count < 1:
        raise ValueError(f"need at least one view, got {count}")
    rng = np.random.default_rng(seed)
    views = np.empty((len(chips), count, *chips.shape[1:]), dtype=np.uint8)
    views[:, 0] = chips
    for i, chip in enumerate(chips):
        for v in range(1, count):
            views[i, v] = augment_chip(chip, rng)
    return views
