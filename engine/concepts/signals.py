"""Synthetic inputs for the 1-D and 3-D convolution demos: an EKG-like trace and a small
volume scan. Made in code (seeded), so the page needs no data files."""

from __future__ import annotations

import numpy as np

# One heartbeat as Gaussian bumps (centre in s after the beat, width in s, height in mV):
# the P wave, the Q-R-S spike and the T wave of a textbook lead-II trace.
_WAVES = (
    (0.00, 0.025, 0.15),  # P
    (0.16, 0.010, -0.15),  # Q
    (0.18, 0.012, 1.20),  # R
    (0.20, 0.010, -0.25),  # S
    (0.40, 0.040, 0.30),  # T
)


def ekg(
    seconds: float = 4.0,
    rate: int = 250,
    bpm: float = 72.0,
    noise: float = 0.03,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and an EKG-like signal (mV), both (seconds × rate,) float32.

    Beats every 60 / bpm seconds with a little jitter, plus baseline wander and white noise.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    signal = 0.05 * np.sin(2 * np.pi * 0.3 * t)  # breathing moves the baseline
    period = 60.0 / bpm
    beat = 0.1
    while beat < seconds:
        for centre, width, height in _WAVES:
            signal += height * np.exp(-0.5 * ((t - beat - centre) / width) ** 2)
        beat += period * (1 + 0.03 * rng.standard_normal())
    signal += noise * rng.standard_normal(t.shape)
    return t.astype(np.float32), signal.astype(np.float32)


def volume_scan(size: int = 32, seed: int = 0) -> np.ndarray:
    """A (size, size, size) float32 volume in [0, 1]: a soft-edged ellipsoid "organ" holding two
    brighter spheres ("lesions"), with noise — a stand-in for one CT or MRI channel."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, size),) * 3, indexing="ij")
    organ = ((x / 0.8) ** 2 + (y / 0.6) ** 2 + (z / 0.7) ** 2) < 1
    volume = 0.4 * organ.astype(np.float64)
    for cz, cy, cx, r in ((0.2, -0.1, 0.3, 0.18), (-0.3, 0.2, -0.35, 0.12)):
        volume += 0.5 * (((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) < r**2)
    volume += 0.02 * rng.standard_normal(volume.shape)
    return np.clip(volume, 0, 1).astype(np.float32)
