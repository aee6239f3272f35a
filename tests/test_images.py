"""Input handling: every kind of image a user may hand us, and every kind of garbage."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidImage
from engine.images import fit_max_side, load_image


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gradient() -> np.ndarray:
    y, x = np.mgrid[0:60, 0:80]
    return np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)


def test_png_bytes_path_pil_and_array_agree(gradient, tmp_path):
    png = _encode(Image.fromarray(gradient), "PNG")
    path = tmp_path / "g.png"
    path.write_bytes(png)
    for source in (png, path, str(path), io.BytesIO(png), Image.fromarray(gradient), gradient):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (60, 80, 3)
        np.testing.assert_array_equal(out, gradient)


def test_exif_orientation_is_applied(gradient):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    jpeg = _encode(Image.fromarray(gradient), "JPEG", exif=exif, quality=95)
    out = load_image(jpeg)
    assert out.shape == (80, 60, 3)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("1", "PNG")],
)
def test_modes_become_rgb(gradient, mode, fmt):
    out = load_image(_encode(Image.fromarray(gradient).convert(mode), fmt))
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8


def test_palette_with_transparency_is_composited_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0] * 256)
    image.info["transparency"] = 0
    out = load_image(_encode(image, "PNG", transparency=0))
    assert (out == 255).all()


def test_sixteen_bit_png_is_scaled_to_eight_bits():
    values = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    out = load_image(_encode(Image.fromarray(values), "PNG"))
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255 and out[1, 0, 0] == 128


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    out = load_image(buffer.getvalue())
    assert out.shape == (8, 8, 3) and out[0, 0, 0] > 200 and out[0, 0, 2] < 50


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"hello, I am a text file pretending to be a JPEG", "not an image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not an image"),
    ],
)
def test_garbage_bytes_raise_invalid_image(data, words):
    with pytest.raises(InvalidImage, match=words):
        load_image(data)


def test_truncated_jpeg_raises_invalid_image(gradient):
    jpeg = _encode(Image.fromarray(np.tile(gradient, (4, 4, 1))), "JPEG")
    with pytest.raises(InvalidImage, match=r"damaged|truncated|read"):
        load_image(jpeg[: len(jpeg) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _encode(Image.new("1", (20000, 20000)), "PNG")  # a few kB on disk, 400 MP decoded
    assert len(bomb) < 200_000
    with pytest.raises(InvalidImage, match="megapixels"):
        load_image(bomb, max_pixels=50_000_000)


def test_max_pixels_is_configurable(gradient):
    with pytest.raises(InvalidImage, match="over the limit"):
        load_image(_encode(Image.fromarray(gradient), "PNG"), max_pixels=1000)


def test_missing_file_raises_invalid_image(tmp_path):
    with pytest.raises(InvalidImage, match="no such image"):
        load_image(tmp_path / "absent.jpg")


def test_one_pixel_image_is_fine():
    assert load_image(_encode(Image.new("RGB", (1, 1)), "PNG")).shape == (1, 1, 3)


@pytest.mark.parametrize(
    ("array", "shape"),
    [
        (np.zeros((5, 6), np.uint8), (5, 6, 3)),
        (np.zeros((5, 6, 1), np.uint8), (5, 6, 3)),
        (np.zeros((5, 6, 4), np.uint8), (5, 6, 3)),
        (np.ones((5, 6, 3), np.float32), (5, 6, 3)),
        (np.full((5, 6), 40000, np.uint16), (5, 6, 3)),
    ],
)
def test_arrays_of_common_layouts(array, shape):
    out = load_image(array)
    assert out.shape == shape and out.dtype == np.uint8


@pytest.mark.parametrize(
    "array",
    [np.zeros((5,), np.uint8), np.zeros((5, 6, 2), np.uint8), np.zeros((0, 6, 3), np.uint8)],
)
def test_bad_arrays_raise_invalid_image(array):
    with pytest.raises(InvalidImage):
        load_image(array)


def test_nan_array_is_refused():
    with pytest.raises(InvalidImage, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan, np.float32))


def test_fit_max_side_shrinks_long_side_only_when_needed(gradient):
    same, scale = fit_max_side(gradient, 100)
    assert same is gradient and scale == 1.0
    small, scale = fit_max_side(gradient, 40)
    assert small.shape == (30, 40, 3) and scale == pytest.approx(0.5)
