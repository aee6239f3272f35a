"""Receptive-field crops (cut to the image at its borders), their boxes in the photo, grids,
filter tiles, activation maximisation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.neurons.errors import ChannelOutOfRange, UnknownLayer
from engine.neurons.index import build_index
from engine.neurons.maximize import maximize_channel
from engine.neurons.patches import (
    crop_field,
    field_in_image,
    filter_tiles,
    fit,
    grid,
    in_photo,
    network_view,
    neuron_sheet,
    outlined,
    top_patches,
)
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


def test_crop_at_the_top_left_border_is_cut_to_the_image(ramp) -> None:
    field = ReceptiveField(size=6, stride=2, start=-2)
    patch = crop_field(ramp, field, 0, 0)  # rows −2..3, cols −2..3 → rows 0..3, cols 0..3
    np.testing.assert_array_equal(patch, ramp[0:4, 0:4])


def test_crop_at_the_bottom_right_border_is_cut_to_the_image(ramp) -> None:
    field = ReceptiveField(size=7, stride=4, start=-1)
    assert field.clipped_box(5, 7, 20, 30) == (19, 27, 20, 30)  # rows 19..25, cols 27..33
    np.testing.assert_array_equal(crop_field(ramp, field, 5, 7), ramp[19:20, 27:30])


def test_field_larger_than_the_image_gives_the_image_part_without_padding(ramp) -> None:
    field = ReceptiveField(size=50, stride=8, start=-12)
    # Unit (0, 0) reads rows and columns −12..37: all of the 20×30 image, nothing else.
    assert field.clipped_box(0, 0, 20, 30) == (0, 0, 20, 30)
    np.testing.assert_array_equal(crop_field(ramp, field, 0, 0), ramp)
    # Unit (1, 2) reads rows −4..45, columns 4..53: rows 0..19, columns 4..29 exist.
    assert field_in_image(ramp, field, 1, 2) == (0, 4, 20, 30)
    patch = crop_field(ramp, field, 1, 2)
    np.testing.assert_array_equal(patch, ramp[:, 4:])
    assert (patch[..., 2] == 7).all()  # every pixel is an image pixel: no padding


def test_face_res3c_field_is_clipped_to_the_150_px_chip(face_backbone) -> None:
    field = face_backbone.layer("res3c").receptive_field
    assert (field.size, field.stride, field.start) == (179, 8, -80)
    chip = np.zeros((150, 150, 3), np.uint8)
    # Unit (0, 0): rows −80..98 → 0..98. Unit (9, 4): rows −8..170 → 0..149, cols −48..130.
    assert field_in_image(chip, field, 0, 0) == (0, 0, 99, 99)
    assert field_in_image(chip, field, 9, 4) == (0, 0, 150, 131)
    assert crop_field(chip, field, 9, 4).shape == (150, 131, 3)


def test_top_patches_are_their_boxes_in_the_photo(face_backbone, image_folder, tmp_path) -> None:
    index = build_index(face_backbone, image_folder, tmp_path, ["res3c"], k=3, limit=4)
    field = index.layer("res3c").receptive_field
    patches = top_patches(index, "res3c", 5)
    assert len(patches) == 3
    for patch in patches:
        view = network_view(index, patch.hit.image_id)
        top, left, bottom, right = patch.box
        assert patch.box == field.clipped_box(patch.hit.y, patch.hit.x, 150, 150)
        np.testing.assert_array_equal(patch.pixels, view[top:bottom, left:right])
        marked = in_photo(index, patch)
        assert marked.shape == (150, 150, 3)
        drawn = (marked != view).any(axis=2)  # the frame, just inside the box's edges
        rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
        assert (rows[0], cols[0], rows[-1] + 1, cols[-1] + 1) == patch.box
        assert not drawn[top + 3 : bottom - 3, left + 3 : right - 3].any()
    sheet = neuron_sheet(index, "res3c", 5, tile=40)
    assert sheet.shape == (4 + 58, 4 + 3 * 44, 3)


def test_fit_keeps_the_aspect_and_enlarges_by_nearest(ramp) -> None:
    assert fit(ramp, 60).shape == (40, 60, 3)
    big = fit(ramp[:2, :2], 8)  # each pixel a 4×4 block
    np.testing.assert_array_equal(big[:4, :4], np.broadcast_to(ramp[0, 0], (4, 4, 3)))
    np.testing.assert_array_equal(big[4:, 4:], np.broadcast_to(ramp[1, 1], (4, 4, 3)))
    assert fit(ramp, 15).shape == (10, 15, 3)


def test_grid_lays_out_tiles_in_rows(ramp) -> None:
    tiles = [np.full((5, 5, 3), v, np.uint8) for v in (10, 20, 30)]
    sheet = grid(tiles, columns=2, tile=8, gap=1)
    assert sheet.shape == (1 + 2 * 9, 1 + 2 * 9, 3)
    assert (sheet[1:9, 1:9] == 10).all() and (sheet[1:9, 10:18] == 20).all()
    assert (sheet[10:18, 1:9] == 30).all() and (sheet[10:18, 10:18] == 255).all()
    labelled = grid(tiles, columns=3, tile=8, gap=1, labels=["a", "b", "c"])
    assert labelled.shape[0] > 10


def test_grid_centres_a_wide_patch_in_its_tile() -> None:
    wide = np.full((4, 8, 3), 50, np.uint8)  # fits an 8-px tile as 4×8, 2 px above and below
    sheet = grid([wide], columns=1, tile=8, gap=1)
    assert (sheet[3:7, 1:9] == 50).all()
    assert (sheet[1:3, 1:9] == 255).all() and (sheet[7:9, 1:9] == 255).all()


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
