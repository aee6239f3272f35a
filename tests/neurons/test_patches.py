"""Receptive-field crops (padded at the borders), grids, filter tiles, activation maximisation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.neurons.errors import ChannelOutOfRange, UnknownLayer
from engine.neurons.maximize import maximize_channel
from engine.neurons.patches import PAD_GREY, crop_field, filter_tiles, grid, outlined
from engine.neurons.receptive_field import ReceptiveField


@pytest.fixture
def ramp() -> np.ndarray:
    """20×30 image whose pixel (r, c) holds (r, c, 7): every crop says where it came from."""
    rows, cols = np.mgrid[0:20, 0:30]
    return np.stack([rows, cols, np.full_like(rows, 7)], axis=2).astype(np.uint8)


def test_crop_inside_the_image_is_the_field(ramp) -> None:
    field = ReceptiveField(size=6, stride=2, start=-2)  # VGG's pool1
    patch = crop_field(ramp, field, 3, 4)  # rows 4..9, cols 6..11
    assert patch.shape == (6, 6, 3)
    np.testing.assert_array_equal(patch, ramp[4:10, 6:12])


def test_crop_at_the_top_left_border_is_padded(ramp) -> None:
    field = ReceptiveField(size=6, stride=2, start=-2)
    patch = crop_field(ramp, field, 0, 0)  # rows −2..3, cols −2..3
    assert (patch[:2] == PAD_GREY).all() and (patch[:, :2] == PAD_GREY).all()
    np.testing.assert_array_equal(patch[2:, 2:], ramp[0:4, 0:4])


def test_crop_at_the_bottom_right_border_is_padded(ramp) -> None:
    field = ReceptiveField(size=7, stride=4, start=-1)
    patch = crop_field(ramp, field, 5, 7, fill=0)  # rows 19..25, cols 27..33
    np.testing.assert_array_equal(patch[:1, :3], ramp[19:20, 27:30])
    assert (patch[1:] == 0).all() and (patch[:, 3:] == 0).all()


def test_field_larger_than_the_image_holds_all_of_it(ramp) -> None:
    field = ReceptiveField(size=50, stride=8, start=-12)
    patch = crop_field(ramp, field, 0, 0)
    np.testing.assert_array_equal(patch[12:32, 12:42], ramp)
    assert (patch[:12] == PAD_GREY).all() and (patch[32:] == PAD_GREY).all()


def test_grid_lays_out_tiles_in_rows(ramp) -> None:
    tiles = [np.full((5, 5, 3), v, np.uint8) for v in (10, 20, 30)]
    sheet = grid(tiles, columns=2, tile=8, gap=1)
    assert sheet.shape == (1 + 2 * 9, 1 + 2 * 9, 3)
    assert (sheet[1:9, 1:9] == 10).all() and (sheet[1:9, 10:18] == 20).all()
    assert (sheet[10:18, 1:9] == 30).all() and (sheet[10:18, 10:18] == 255).all()
    labelled = grid(tiles, columns=3, tile=8, gap=1, labels=["a", "b", "c"])
    assert labelled.shape[0] > 10


def test_filter_tiles_flip_vgg_bgr_to_rgb(vgg_backbone, face_backbone) -> None:
    kernels = vgg_backbone.first_conv_filters()
    raw = vgg_backbone.stages[0].weight.detach().numpy()  # (64, 3 BGR, 3, 3)
    assert kernels.shape == (64, 3, 3, 3)
    np.testing.assert_array_equal(kernels[5, :, :, 0], raw[5, 2])  # red = Caffe channel 2
    tiles = filter_tiles(kernels, tile=9)
    assert len(tiles) == 64 and tiles[0].shape == (9, 9, 3) and tiles[0].dtype == np.uint8
    assert tiles[0].min() == 0 and tiles[0].max() == 255
    assert face_backbone.first_conv_filters().shape == (32, 7, 7, 3)


def test_activation_maximisation_raises_the_channel(vgg_backbone) -> None:
    image, value = maximize_channel(vgg_backbone, "relu2_2", 3, steps=5, size=48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    _, start = maximize_channel(vgg_backbone, "relu2_2", 3, steps=0, size=48)
    assert value > 2 * max(start, 1.0)
    with pytest.raises(ChannelOutOfRange):
        maximize_channel(vgg_backbone, "relu2_2", 128, steps=1)
    with pytest.raises(UnknownLayer):
        maximize_channel(vgg_backbone, "fc6", 0, steps=1)


def test_outline_marks_the_clipped_field(ramp) -> None:
    field = ReceptiveField(size=6, stride=2, start=-2)
    marked = outlined(ramp, field, 0, 3)  # rows −2..3 → 0..3, cols 4..9
    red = (marked == (255, 0, 0)).all(axis=2)
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (0, 3, 4, 9)
