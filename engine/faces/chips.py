"""Aligned face chips, pixel for pixel as dlib's ``get_face_chip`` / ``get_face_chips`` cut them.

The face ResNet was trained on chips made by dlib's ``get_face_chip_details`` and
``extract_image_chips`` (``dlib/image_transforms/interpolation.h``); any other warp (OpenCV's
``warpAffine``, a plain similarity to the template) moves descriptors by ~0.07, a tenth of the
decision threshold. So we reproduce dlib's steps exactly:

1. template points from dlib's 5-point mean face, padded and scaled to the chip size;
2. Umeyama similarity from the template to the landmarks → an angle and a crop rectangle
   ``size · scale − 1`` pixels wide (``chip_details``, ``centered_drect``);
3. if that rectangle is over about twice the chip size, halve the image with dlib's
   ``pyramid_down<2>`` (a [1 4 6 4 1]² / 256 integer filter) until it is not;
4. bilinear sampling in double precision, black outside the image, truncation to uint8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.faces.landmarks import find_similarity_transform
from engine.images import require_uint8_image

DEFAULT_CHIP_SIZE = 150
DEFAULT_PADDING = 0.25

# dlib's mean face for the 5-point model (get_face_chip_details), as fractions of the unpadded
# face square, in the predictor's order: outer and inner corner of the eye on the image's right
# (the person's left), outer and inner corner of the other eye, base of the nose.
MEAN_FACE_5_POINTS = np.array(
    [
        (0.8595674595992, 0.2134981538014),
        (0.6460604764104, 0.2289674387677),
        (0.1205750620789, 0.2137274526848),
        (0.3340850613712, 0.2290642403242),
        (0.4901123135679, 0.6277975316475),
    ]
)

# A dlib rectangle (left, top, right, bottom) with inclusive corners; floats for drectangle.
Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class FaceChipTransform:
    """Where a chip lies in the image: dlib's ``chip_details`` (rect, angle, rows, cols).

    ``rect`` is the unrotated crop in image pixels (dlib ``drectangle``: inclusive corners),
    ``angle`` the rotation about its centre (radians). ``chip_to_image`` / ``image_to_chip``
    are the 2×3 affine maps between chip pixels and image pixels (dlib's
    ``get_mapping_to_chip`` and its inverse), for drawing chips' results back on the photo.
    """

    rect: Rect
    angle: float
    rows: int
    cols: int

    @property
    def scale(self) -> float:
        """Image pixels per chip pixel (the similarity transform's scale)."""
        left, _, right, _ = self.rect
        return (right - left + 1) / self.cols

    @property
    def chip_to_image(self) -> np.ndarray:
        tl, tr, bl = _rotated_corners(self.rect, self.angle)
        affine = np.empty((2, 3))
        affine[:, 0] = (tr - tl) / max(self.cols - 1, 1)
        affine[:, 1] = (bl - tl) / max(self.rows - 1, 1)
        affine[:, 2] = tl
        return affine

    @property
    def image_to_chip(self) -> np.ndarray:
        forward = np.vstack([self.chip_to_image, (0.0, 0.0, 1.0)])
        return np.linalg.inv(forward)[:2]

    def to_chip(self, points: np.ndarray) -> np.ndarray:
        """Image points (N, 2) → chip pixel coordinates."""
        return _apply_affine(self.image_to_chip, points)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Chip pixel coordinates (N, 2) → image points."""
        return _apply_affine(self.chip_to_image, points)


def face_chip_transform(
    landmarks: np.ndarray, size: int = DEFAULT_CHIP_SIZE, padding: float = DEFAULT_PADDING
) -> FaceChipTransform:
    """dlib ``get_face_chip_details`` for 5 landmarks (x, y) in the predictor's order.

    ``padding`` is rounded to a C float first, as dlib's Python ``get_face_chip`` receives it,
    so that chips match dlib for paddings like 0.2 that a float cannot hold exactly.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"face chips need the 5-point model's landmarks, got {points.shape}")
    if size <= 0 or padding < 0:
        raise ValueError(f"chip size must be positive, padding non-negative ({size}, {padding})")
    padding = float(np.float32(padding))
    template = (padding + MEAN_FACE_5_POINTS) / (2 * padding + 1) * size

    # chip_details(chip_points, img_points, dims): the similarity's rotation and scale become
    # the angle and the crop rectangle's size; its image of the chip centre, the rect centre.
    matrix, offset = find_similarity_transform(template, points)
    column_x, column_y = matrix[0, 0], matrix[1, 0]
    angle = math.atan2(column_y, column_x)
    scale = math.sqrt(column_x * column_x + column_y * column_y)
    half = size / 2.0
    center_x = (matrix[0, 0] * half + matrix[0, 1] * half) + offset[0]
    center_y = (matrix[1, 0] * half + matrix[1, 1] * half) + offset[1]
    # centered_drect: width - 1 because a drectangle's width is right - left + 1.
    half_w = (size * scale - 1) / 2
    half_h = (size * scale - 1) / 2
    rect = (center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h)
    return FaceChipTransform(rect=rect, angle=angle, rows=size, cols=size)


def extract_face_chip(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: int = DEFAULT_CHIP_SIZE,
    padding: float = DEFAULT_PADDING,
) -> np.ndarray:
    """The aligned chip (size, size, 3) uint8, as ``dlib.get_face_chip(img, shape, size, padding)``.

    A gray (H, W) image gives a (size, size) chip.
    """
    return extract_chips(image, [face_chip_transform(landmarks, size, padding)])[0]


def extract_face_chips(
    image: np.ndarray,
    landmarks: Sequence[np.ndarray],
    size: int = DEFAULT_CHIP_SIZE,
    padding: float = DEFAULT_PADDING,
) -> list[np.ndarray]:
    """All faces' chips at once, as ``dlib.get_face_chips(img, shapes, size, padding)``.

    dlib builds one image pyramid over the region all chips need, so a chip cut here can
    differ by a level or so from the same face cut alone when the faces are large.
    """
    return extract_chips(image, [face_chip_transform(p, size, padding) for p in landmarks])


# ----------------------------------------------------------------------------------------
# dlib extract_image_chips


def extract_chips(image: np.ndarray, transforms: Sequence[FaceChipTransform]) -> list[np.ndarray]:
    """dlib ``extract_image_chips`` with bilinear interpolation, for RGB or gray uint8 images."""
    image = require_uint8_image(image, "face chips")
    if not transforms:
        return []
    height, width = image.shape[:2]
    image_rect: Rect = (0, 0, width - 1, height - 1)

    # How deep a pyramid the chips need, and which part of the image it must cover: each
    # chip's rotated rectangle plus a border that doubles (plus 2) per level.
    max_depth = 0
    region: Rect | None = None
    for tf in transforms:
        chip_area = tf.rows * tf.cols
        depth, grow = 0, 2.0
        rect = _rect_down(tf.rect)
        while _area(rect) > chip_area:
            rect = _rect_down(rect)
            depth += 1
            grow = grow * 2 + 2
        corners = np.array([_rotate(tf.rect, corner, tf.angle) for corner in _corners(tf.rect)])
        rot_rect = (*corners.min(axis=0), *corners.max(axis=0))
        needed = _round_rect(_intersect(_grow(rot_rect, grow), image_rect))
        region = _union(region, needed)
        max_depth = max(max_depth, depth)

    assert region is not None
    region = _round_rect(_intersect(region, image_rect))
    left, top, right, bottom = (int(v) for v in region)
    # dlib samples from the cropped region (sub_image), in coordinates relative to it.
    cropped = image[:0, :0] if _is_empty(region) else image[top : bottom + 1, left : right + 1]
    levels = []
    for _ in range(max_depth):
        levels.append(pyramid_down_2(levels[-1] if levels else cropped))

    chips = []
    for tf in transforms:
        rect_height = tf.rect[3] - tf.rect[1] + 1
        rect_width = tf.rect[2] - tf.rect[0] + 1
        if tf.angle == 0 and tf.rows == rect_height and tf.cols == rect_width:
            chips.append(_copy_chip(image, _round_rect(tf.rect)))
            continue
        level = -1
        rect = _translate(tf.rect, -left, -top)
        while _area(_rect_down(rect)) > tf.rows * tf.cols:
            level += 1
            rect = _rect_down(rect)
        source = cropped if level == -1 else levels[level]
        tl, tr, bl = (_rotate(rect, corner, tf.angle) for corner in _corners(rect)[:3])
        # find_affine_transform from the chip's corners (0,0), (cols-1,0), (0,rows-1).
        affine = np.empty((2, 3))
        affine[:, 0] = (tr - tl) / max(tf.cols - 1, 1)
        affine[:, 1] = (bl - tl) / max(tf.rows - 1, 1)
        affine[:, 2] = tl
        chips.append(_sample_bilinear(source, affine, tf.rows, tf.cols))
    return chips


def pyramid_down_2(image: np.ndarray) -> np.ndarray:
    """dlib ``pyramid_down<2>``: [1 4 6 4 1] filter both ways, keep every other pixel, ÷ 256.

    Output is ((H - 3) // 2, (W - 3) // 2); output pixel (i, j) is the filter centred on input
    (2i + 2, 2j + 2). Like dlib we sum in uint16 (at most 16 · 16 · 255 = 65280, no overflow)
    and divide with truncation, so the result is exact.
    """
    height, width = image.shape[:2]
    if height <= 8 or width <= 8:
        return image[:0, :0]
    out_h, out_w = (height - 3) // 2, (width - 3) // 2
    pixels = image.astype(np.uint16)

    def taps(array: np.ndarray, count: int, axis: int) -> list[np.ndarray]:
        """The five inputs under each output's filter: array[2k + tap] along ``axis``."""
        index = [slice(None)] * array.ndim
        views = []
        for tap in range(5):
            index[axis] = slice(tap, tap + 2 * count, 2)
            views.append(array[tuple(index)])
        return views

    def filtered(array: np.ndarray, count: int, axis: int) -> np.ndarray:
        outer_left, inner_left, middle, inner_right, outer_right = taps(array, count, axis)
        total = outer_left + outer_right
        total += 4 * (inner_left + inner_right)
        total += 6 * middle
        return total

    rows = filtered(pixels, out_w, axis=1)
    both = filtered(rows, out_h, axis=0)
    return (both >> 8).astype(np.uint8)


def _sample_bilinear(source: np.ndarray, affine: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """dlib ``transform_image`` with ``interpolate_bilinear`` and a black background.

    Chip pixel (c, r) samples source point affine @ (c, r, 1); a point whose 2×2 neighbourhood
    is not wholly inside the source is black. The blend is dlib's expression, in the same
    order and in double precision, truncated to uint8, so the chips match bit for bit.
    """
    channels = source.shape[2] if source.ndim == 3 else 1
    out = np.zeros((rows * cols, channels), dtype=np.uint8)
    src_h, src_w = source.shape[:2]
    shaped_out = out.reshape((rows, cols, channels) if source.ndim == 3 else (rows, cols))
    if src_h < 2 or src_w < 2:
        return shaped_out
    c = np.arange(cols, dtype=np.float64)
    r = np.arange(rows, dtype=np.float64)[:, None]
    x = ((affine[0, 0] * c + affine[0, 1] * r) + affine[0, 2]).ravel()
    y = ((affine[1, 0] * c + affine[1, 1] * r) + affine[1, 2]).ravel()
    left = np.floor(x)
    top = np.floor(y)
    inside = (left >= 0) & (top >= 0) & (left < src_w - 1) & (top < src_h - 1)
    where = None
    if not inside.all():
        where = np.flatnonzero(inside)
        x, y, left, top = x[where], y[where], left[where], top[where]
    lr = (x - left)[:, None]
    tb = (y - top)[:, None]
    one_minus_lr = 1 - lr
    one_minus_tb = 1 - tb
    pixels = source.reshape(src_h * src_w, channels)
    top_left = top.astype(np.intp) * src_w + left.astype(np.intp)
    bottom_left = top_left + src_w
    value = one_minus_tb * (one_minus_lr * pixels[top_left] + lr * pixels[top_left + 1]) + tb * (
        one_minus_lr * pixels[bottom_left] + lr * pixels[bottom_left + 1]
    )
    # A convex blend of uint8 values lies in [0, 255] up to rounding, so casting truncates
    # exactly as dlib's assign_pixel does.
    if where is None:
        out[:] = value
    else:
        out[where] = value
    return shaped_out


def _copy_chip(image: np.ndarray, rect: Rect) -> np.ndarray:
    """dlib ``basic_extract_image_chip``: a plain crop, zero where it leaves the image."""
    left, top, right, bottom = (int(v) for v in rect)
    out = np.zeros((bottom - top + 1, right - left + 1, *image.shape[2:]), dtype=np.uint8)
    height, width = image.shape[:2]
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(bottom, height - 1), min(right, width - 1)
    if src_top <= src_bottom and src_left <= src_right:
        out[src_top - top : src_bottom - top + 1, src_left - left : src_right - left + 1] = image[
            src_top : src_bottom + 1, src_left : src_right + 1
        ]
    return out


# ----------------------------------------------------------------------------------------
# dlib drectangle / rectangle helpers (dlib/geometry/drectangle.h, image_pyramid.h)


def _is_empty(rect: Rect) -> bool:
    return rect[1] > rect[3] or rect[0] > rect[2]


def _area(rect: Rect) -> float:
    if _is_empty(rect):
        return 0.0
    return (rect[2] - rect[0] + 1) * (rect[3] - rect[1] + 1)


def _rect_down(rect: Rect) -> Rect:
    """pyramid_down<2>::rect_down: each corner p ↦ p / 2 − (1.25, 0.75)."""
    left, top, right, bottom = rect
    return (left / 2.0 - 1.25, top / 2.0 - 0.75, right / 2.0 - 1.25, bottom / 2.0 - 0.75)


def _translate(rect: Rect, dx: float, dy: float) -> Rect:
    return (rect[0] + dx, rect[1] + dy, rect[2] + dx, rect[3] + dy)


def _grow(rect: Rect, amount: float) -> Rect:
    return (rect[0] - amount, rect[1] - amount, rect[2] + amount, rect[3] + amount)


def _intersect(a: Rect, b: Rect) -> Rect:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _union(a: Rect | None, b: Rect) -> Rect:
    """dlib rectangle ``+``: an empty side contributes nothing."""
    if a is None or _is_empty(a):
        return b
    if _is_empty(b):
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _round_rect(rect: Rect) -> Rect:
    """drectangle → rectangle: each side rounded with floor(x + 0.5)."""
    return tuple(float(math.floor(v + 0.5)) for v in rect)  # type: ignore[return-value]


def _corners(rect: Rect) -> list[np.ndarray]:
    """Top-left, top-right, bottom-left, bottom-right."""
    left, top, right, bottom = rect
    return [
        np.array(p, dtype=np.float64)
        for p in ((left, top), (right, top), (left, bottom), (right, bottom))
    ]


def _rotate(rect: Rect, point: np.ndarray, angle: float) -> np.ndarray:
    """dlib ``rotate_point(center(rect), point, angle)``."""
    center = np.array(((rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0))
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    dx, dy = point - center
    return np.array((cos_a * dx - sin_a * dy, sin_a * dx + cos_a * dy)) + center


def _rotated_corners(rect: Rect, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tl, tr, bl, _ = (_rotate(rect, corner, angle) for corner in _corners(rect))
    return tl, tr, bl


def _apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ affine[:, :2].T + affine[:, 2]
