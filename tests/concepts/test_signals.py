"""The 1-D and 3-D demos: real Conv1d / Conv3d equal the sliding dot product by hand."""

from __future__ import annotations

import numpy as np

from engine.concepts.conv_demos import LAPLACIAN_3D, ekg_matched_filter, volume_edges
from engine.concepts.signals import ekg, volume_scan


def test_ekg_matched_filter_is_a_cross_correlation_and_finds_the_beats():
    t, signal = ekg(seconds=5, rate=250, bpm=60, seed=1)
    assert signal.shape == t.shape == (1250,)
    demo = ekg_matched_filter(signal, rate=250)
    np.testing.assert_allclose(
        demo.output, np.correlate(signal, demo.kernel, mode="valid"), atol=1e-5
    )
    assert demo.output.shape == (1250 - len(demo.kernel) + 1,)
    strong = demo.output > 0.5 * demo.output.max()
    onsets = np.flatnonzero(strong[1:] & ~strong[:-1])
    assert len(onsets) == 5  # 60 bpm for 5 s, first beat at 0.1 s


def test_volume_edges_match_the_laplacian_by_hand():
    volume = volume_scan(size=16, seed=2)
    assert volume.shape == (16, 16, 16) and volume.min() >= 0 and volume.max() <= 1
    demo = volume_edges(volume)
    assert demo.output.shape == volume.shape  # padding 1 keeps the size
    padded = np.pad(volume, 1)
    z, y, x = 5, 7, 9
    by_hand = float((padded[z : z + 3, y : y + 3, x : x + 3] * LAPLACIAN_3D).sum())
    assert abs(demo.output[z, y, x] - by_hand) < 1e-5
    six = (
        volume[z - 1, y, x]
        + volume[z + 1, y, x]
        + volume[z, y - 1, x]
        + volume[z, y + 1, x]
        + volume[z, y, x - 1]
        + volume[z, y, x + 1]
    )
    assert abs(demo.output[z, y, x] - (six - 6 * volume[z, y, x])) < 1e-5
