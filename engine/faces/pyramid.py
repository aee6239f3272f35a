"""The CNN face detector's image pyramid, as dlib builds it, bit for bit.

Geometry: the levels (each 5/6 of the one before) laid out as tiles of one image
(``image_transforms/image_pyramid.h``), and boxes mapped from the tiles back to the image;
``pyramid_up`` / ``rect_down`` for upsampled images. Pixels: dlib's bilinear ``resize_image``,
which makes each level from the one before and does ``pyramid_up``. Rectangles are rounded the
way dlib rounds them, so boxes come out as dlib's integers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

# The pyramid type is part of dlib's C++ network type (input_rgb_image_pyramid<pyramid_down<6>>),
# not of the file: each level is 5/6 the size of the one before.
PYRAMID_DOWN_N = 6
# dlib stops adding pyramid levels once a level would be shorter than this.
MIN_PYRAMID_LEVEL_HEIGHT = 5


# --------------------------------------------------------------------------------------
# Rectangles the way dlib rounds them
# --------------------------------------------------------------------------------------
def round_rect_like_dlib(x: np.ndarray) -> np.ndarray:
    """``drectangle → rectangle``: to the nearest integer, halves away from zero (std::round).

    Windows on the full-size level have corners at k ± 0.5, so halves are common; dlib 20
    rounds a left of −12.5 to −13 (checked against dlib on faces cut by the image edge).
    """
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    return np.copysign(whole + (magnitude - whole >= 0.5), x)


def _round_point_like_dlib(x: np.ndarray) -> np.ndarray:
    """``dpoint → point`` (``vector_assign_helper``): floor(x + 0.5)."""
    return np.floor(x + 0.5)


# --------------------------------------------------------------------------------------
# The levels as tiles of one image, and boxes back from the tiles
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileRect:
    """A pyramid level's place in the tiled image: inclusive corners, like ``dlib.rectangle``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    def intersects(self, other: TileRect) -> bool:
        return max(self.left, other.left) <= min(self.right, other.right) and max(
            self.top, other.top
        ) <= min(self.bottom, other.bottom)


@dataclass(frozen=True)
class TiledPyramid:
    """Where each pyramid level lies in the one image the network sees."""

    levels: tuple[TileRect, ...]
    rows: int
    cols: int


@functools.lru_cache(maxsize=256)
def tiled_pyramid_layout(
    rows: int, cols: int, padding: int, outer_padding: int, pyramid_n: int = PYRAMID_DOWN_N
) -> TiledPyramid:
    """dlib's ``impl::compute_tiled_image_pyramid_details`` for ``pyramid_down<N>``.

    The full-size image goes top left; smaller levels are stacked below it until the rest can
    fit in a second column, which is filled bottom-up along the right edge.
    """
    if rows * cols == 0:
        return TiledPyramid((), 0, 0)
    rate = (pyramid_n - 1.0) / pyramid_n
    sizes = [(rows, cols)]  # (height, width)
    nr, nc = rows, cols
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)  # find_pyramid_down_output_image_size
        if nr * nc == 0 or nr < MIN_PYRAMID_LEVEL_HEIGHT:
            break
        sizes.append((nr, nc))

    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    first_h, first_w = sizes[0]
    height, prev_width = 0, 0
    for h, w in sizes:
        if w <= first_w - prev_width - padding and (height - first_h) * 2 >= total_height - first_h:
            break
        height += h + padding
        prev_width = w
    height -= padding

    levels: list[TileRect] = []
    y = outer_padding
    i = 0
    while y < height + outer_padding and i < len(sizes):
        h, w = sizes[i]
        levels.append(TileRect(outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    first = levels[0]
    while i < len(sizes):
        h, w = sizes[i]
        right, bottom = outer_padding + first_w - 1, y - 1
        rect = TileRect(right - (w - 1), bottom - (h - 1), right, bottom)
        if rect.intersects(first):
            break  # dlib drops the levels that would not fit
        levels.append(rect)
        y -= h + padding
        i += 1
    return TiledPyramid(tuple(levels), height + 2 * outer_padding, first_w + 2 * outer_padding)


def tiled_to_image_boxes(
    tiles: TiledPyramid, boxes: np.ndarray, pyramid_n: int = PYRAMID_DOWN_N
) -> np.ndarray:
    """dlib's ``tiled_pyramid_to_image<pyramid_down<N>>`` for (n, 4) boxes (l, t, r, b).

    Each box belongs to the level whose tile is nearest its centre (``nearest_rect``); it is
    moved to that tile's origin and scaled up level times by ``point_up`` (p·N/(N−1) + 0.3).
    """
    centers_x = _round_point_like_dlib((boxes[:, 0] + boxes[:, 2]) / 2)
    centers_y = _round_point_like_dlib((boxes[:, 1] + boxes[:, 3]) / 2)
    lefts = np.array([t.left for t in tiles.levels], dtype=np.float64)
    tops = np.array([t.top for t in tiles.levels], dtype=np.float64)
    rights = np.array([t.right for t in tiles.levels], dtype=np.float64)
    bottoms = np.array([t.bottom for t in tiles.levels], dtype=np.float64)
    cx, cy = centers_x[:, None], centers_y[:, None]
    nearest_x = np.clip(cx, lefts, rights)
    nearest_y = np.clip(cy, tops, bottoms)
    distance = np.sqrt((nearest_x - cx) ** 2 + (nearest_y - cy) ** 2)  # 0 inside a tile
    # The first containing tile wins, else the first nearest: argmin picks the first minimum.
    level = np.argmin(distance, axis=1)

    out = boxes - np.stack([lefts[level], tops[level], lefts[level], tops[level]], axis=1)
    ratio = pyramid_n / (pyramid_n - 1.0)
    for step in range(int(level.max(initial=0))):
        moving = level > step
        out[moving] = out[moving] * ratio + 0.3
    return out


# --------------------------------------------------------------------------------------
# dlib's bilinear resize, bit for bit
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ResizeAxes:
    """Sample positions of dlib's SIMD ``resize_image(…, interpolate_bilinear)`` for one shape.

    dlib maps corners to corners (scale = (in − 1)/(out − 1), like ``align_corners=True``),
    but the arithmetic matters for bit-exact pixels: row positions accumulate in double;
    column positions accumulate four at a time in float32 (simd4f) and are truncated; the
    last few columns, where the 4-wide loop would read past the edge, are done in double.
    """

    top: np.ndarray
    bottom: np.ndarray
    tb_frac: np.ndarray  # float64
    left: np.ndarray  # all output columns
    right: np.ndarray
    lr_frac_simd: np.ndarray  # float32, columns [0, simd_columns)
    simd_columns: int
    lr_frac_tail: np.ndarray  # float64, columns [simd_columns, out_cols)


@functools.lru_cache(maxsize=1024)  # pure in its four sizes; images of one size repeat
def _resize_axes(in_rows: int, in_cols: int, out_rows: int, out_cols: int) -> _ResizeAxes:
    y_scale = (in_rows - 1) / max(out_rows - 1, 1)
    x_scale = (in_cols - 1) / max(out_cols - 1, 1)

    y = np.add.accumulate(np.concatenate([[-y_scale], np.full(out_rows, y_scale)]))[1:]
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, in_rows - 1)
    tb_frac = y - top

    groups = (out_cols + 3) // 4 + 1
    x0 = -4 * x_scale
    lane_start = np.array([x0 + k * x_scale for k in range(4)], dtype=np.float64).astype(np.float32)
    step = np.float32(4 * x_scale)
    lanes = np.empty((groups, 4), dtype=np.float32)
    for k in range(4):
        seq = np.full(groups + 1, step, dtype=np.float32)
        seq[0] = lane_start[k]
        lanes[:, k] = np.add.accumulate(seq, dtype=np.float32)[1:]
    simd_left = lanes.astype(np.int32)  # truncation (cvttps2dq)
    simd_frac = lanes - simd_left.astype(np.float32)
    past_edge = np.nonzero(simd_left[:, 3] + 1 >= in_cols)[0]
    simd_groups = int(past_edge[0]) if past_edge.size else groups
    simd_columns = min(4 * simd_groups, out_cols)

    tail = np.arange(simd_columns, out_cols)
    x = np.add.accumulate(
        np.concatenate([[-x_scale + simd_columns * x_scale], np.full(tail.size, x_scale)])
    )[1:]
    tail_left = np.floor(x).astype(np.int64)
    left = np.concatenate([simd_left.ravel()[:simd_columns].astype(np.int64), tail_left])
    right = np.minimum(left + 1, in_cols - 1)
    return _ResizeAxes(
        top,
        bottom,
        tb_frac,
        left,
        right,
        simd_frac.ravel()[:simd_columns],
        simd_columns,
        x - tail_left,
    )


def resize_bilinear_like_dlib(
    planes: torch.Tensor, out_rows: int, out_cols: int, uint8_pixels: bool = False
) -> torch.Tensor:
    """Bilinear resize of (n, c, h, w) float32 planes exactly as dlib's ``resize_image``.

    ``uint8_pixels=False``: float images (``tt::resize_bilinear`` on the pyramid tensor).
    ``uint8_pixels=True``: ``rgb_pixel`` images (``pyramid_up``): values are truncated to
    integers, and the edge columns use a double-precision fraction.
    Returns float32 planes (integer-valued when ``uint8_pixels``).
    """
    in_rows, in_cols = planes.shape[-2:]
    axes = _resize_axes(in_rows, in_cols, out_rows, out_cols)
    device = planes.device

    def index(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values).to(device)

    # The four neighbours come from two gathers of whole rows (fast, contiguous copies):
    # the top/bottom source rows, then, after one transpose, the left/right source columns.
    # So the arithmetic runs on transposed (cols, rows) planes; a transposed view is returned.
    batch, channels = planes.shape[:2]
    source_rows = planes.index_select(2, index(np.concatenate([axes.top, axes.bottom])))
    source_cols = source_rows.transpose(2, 3).contiguous()
    corners = source_cols.index_select(2, index(np.concatenate([axes.left, axes.right])))
    corners = corners.view(batch, channels, 2, out_cols, 2, out_rows)
    tl, bl = corners[:, :, 0, :, 0], corners[:, :, 0, :, 1]
    tr, br = corners[:, :, 1, :, 0], corners[:, :, 1, :, 1]
    out = torch.empty_like(tl)  # (batch, channels, out_cols, out_rows)

    n = axes.simd_columns
    if n:
        tb = index(axes.tb_frac.astype(np.float32)).view(1, -1)
        inv_tb = index((1 - axes.tb_frac).astype(np.float32)).view(1, -1)
        lr = index(axes.lr_frac_simd).view(-1, 1)
        inv_lr = 1 - lr
        # ((tlf·tl + trf·tr) + blf·bl) + brf·br, each product and sum rounded to float32.
        value = (inv_tb * inv_lr) * tl[..., :n, :] + (inv_tb * lr) * tr[..., :n, :]
        value = value + (tb * inv_lr) * bl[..., :n, :]
        value = value + (tb * lr) * br[..., :n, :]
        out[..., :n, :] = torch.trunc(value) if uint8_pixels else value
    if n < out_cols:
        tb64 = index(axes.tb_frac).view(1, -1)
        lr64 = index(axes.lr_frac_tail).view(-1, 1)
        tails = [t[..., n:, :] for t in (tl, tr, bl, br)]
        if uint8_pixels:
            tl64, tr64, bl64, br64 = (t.double() for t in tails)
            top = (1 - lr64) * tl64 + lr64 * tr64
            bottom = (1 - lr64) * bl64 + lr64 * br64
            out[..., n:, :] = torch.trunc((1 - tb64) * top + tb64 * bottom).float()
        else:
            lr32 = lr64.float()
            top = ((1 - lr32) * tails[0] + lr32 * tails[1]).double()
            bottom = ((1 - lr32) * tails[2] + lr32 * tails[3]).double()
            out[..., n:, :] = ((1 - tb64) * top + tb64 * bottom).float()
    return out.transpose(2, 3)


def pyramid_up_size(rows: int, cols: int) -> tuple[int, int]:
    """Output size of dlib's ``pyramid_up`` with ``pyramid_down<2>``: (2·rows + 1, 2·cols + 2).

    It is the rounded ``rect_up`` of the image rectangle: corner (c, r) ↦ ((c + 1.25)·2,
    (r + 0.75)·2).
    """
    bottom = round_rect_like_dlib(np.float64((rows - 1 + 0.75) * 2))
    right = round_rect_like_dlib(np.float64((cols - 1 + 1.25) * 2))
    return int(bottom) + 1, int(right) + 1


def rect_down_pyramid2(boxes: np.ndarray, levels: int) -> np.ndarray:
    """dlib's ``pyramid_down<2>::rect_down(rect, levels)``: p/2 − (1.25, 0.75), rounded."""
    out = boxes.astype(np.float64)
    for _ in range(levels):
        out = out / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
    return round_rect_like_dlib(out)
