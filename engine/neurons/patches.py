"""Receptive-field crops and the image grids the page and ``show-neuron`` draw.

A unit's field often hangs over the image border (the network zero-pads its input), and a deep
unit's field can be larger than the image itself (the face network's res3c: 179 px on a 150 px
chip). A patch is therefore the part of the field inside the image — no padding pixels — and
``Patch.box`` says where that part lies in the photo, so the page can also draw the field as a
box on the whole photo (``in_photo``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.images import load_image
from engine.neurons.backbones import prepare_image
from engine.neurons.index import Hit, NeuronIndex
from engine.neurons.receptive_field import ReceptiveField

EMPTY_GREY = 128
"""The tile of a channel that never saw an image."""

Box = tuple[int, int, int, int]
"""(top, left, bottom, right) in image pixels; bottom and right exclusive."""


def field_in_image(image: np.ndarray, field: ReceptiveField, y: int, x: int) -> Box:
    """Unit (y, x)'s receptive field clipped to ``image``: the box its patch is cut from."""
    return field.clipped_box(y, x, image.shape[0], image.shape[1])


def crop_field(image: np.ndarray, field: ReceptiveField, y: int, x: int) -> np.ndarray:
    """The part of ``image`` that unit (y, x) sees: its field cut to the image, so not always
    square, and never padded."""
    return _cut(image, field_in_image(image, field, y, x))


def _cut(image: np.ndarray, box: Box) -> np.ndarray:
    top, left, bottom, right = box
    return np.ascontiguousarray(image[top:bottom, left:right])


def fit(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` resized so its longer side is ``size``, keeping its aspect (nearest when
    enlarging, so a 7-pixel patch shows its pixels instead of a blur)."""
    h, w = image.shape[:2]
    if max(h, w) == size:
        return image
    scale = size / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(shape, resample))


def grid(
    images: Sequence[np.ndarray],
    columns: int,
    tile: int = 96,
    gap: int = 4,
    labels: Sequence[str] | None = None,
    background: int = 255,
) -> np.ndarray:
    """Images as one ``columns``-wide sheet of ``tile``-pixel tiles, optionally captioned; an
    image that is not square is fitted into its tile, centred, on the sheet's background."""
    if not images:
        raise ValueError("nothing to draw")
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    caption = 14 if labels else 0
    cell_h, cell_w = tile + caption + gap, tile + gap
    sheet = Image.new("RGB", (columns * cell_w + gap, rows * cell_h + gap), (background,) * 3)
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        row, col = divmod(i, columns)
        left, top = gap + col * cell_w, gap + row * cell_h
        shown = fit(image, tile)
        margin_x, margin_y = (tile - shown.shape[1]) // 2, (tile - shown.shape[0]) // 2
        sheet.paste(Image.fromarray(shown), (left + margin_x, top + margin_y))
        if labels:
            draw.text((left + 1, top + tile + 1), labels[i][: tile // 6], fill=(0, 0, 0))
    return np.asarray(sheet)


def filter_tiles(kernels: np.ndarray, tile: int = 42) -> list[np.ndarray]:
    """First-layer kernels (C, k, k, 3) RGB as images: each scaled to 0–255 on its own range,
    so colour-opponent and edge filters show as such (the absolute gains differ per filter)."""
    tiles = []
    for kernel in kernels:
        low, high = float(kernel.min()), float(kernel.max())
        scaled = (kernel - low) / (high - low) if high > low else np.zeros_like(kernel)
        tiles.append(fit(np.round(scaled * 255).astype(np.uint8), tile))
    return tiles


@lru_cache(maxsize=256)
def _network_view(path: Path, size: int, stamp: float) -> np.ndarray:
    return prepare_image(load_image(path), size)


def network_view(index: NeuronIndex, image_id: int) -> np.ndarray:
    """Image ``image_id`` of the index as the network saw it (the square patches are cut from)."""
    path = index.image_path(image_id)
    return _network_view(path, index.input_size, path.stat().st_mtime)


@dataclass(frozen=True)
class Patch:
    """One top activation: the hit, the pixels its unit sees, and where they lie in the photo
    (``box``, in the coordinates of ``network_view``)."""

    hit: Hit
    pixels: np.ndarray
    box: Box


def _patch(index: NeuronIndex, field: ReceptiveField, hit: Hit) -> Patch:
    view = network_view(index, hit.image_id)
    box = field_in_image(view, field, hit.y, hit.x)
    return Patch(hit, _cut(view, box), box)


def top_patches(index: NeuronIndex, layer: str, channel: int) -> list[Patch]:
    """The channel's top-k receptive-field crops, best first."""
    field = index.layer(layer).receptive_field
    return [_patch(index, field, hit) for hit in index.hits(layer, channel)]


def best_patches(
    index: NeuronIndex, layer: str, channels: Sequence[int] | None = None
) -> list[np.ndarray | None]:
    """Each channel's best crop (None for a channel that never saw an image): the overview.
    ``channels`` defaults to all of the layer's."""
    field = index.layer(layer).receptive_field
    out: list[np.ndarray | None] = []
    for channel in range(index.layer(layer).channels) if channels is None else channels:
        hits = index.hits(layer, channel)[:1]
        out.append(_patch(index, field, hits[0]).pixels if hits else None)
    return out


def neuron_sheet(index: NeuronIndex, layer: str, channel: int, tile: int = 96) -> np.ndarray:
    """One PNG-ready sheet of a channel's top-k patches, each captioned with its activation."""
    patches = top_patches(index, layer, channel)
    if not patches:
        raise ValueError(f"channel {channel} of {layer} has no indexed images")
    return grid(
        [p.pixels for p in patches],
        columns=min(len(patches), 5),
        tile=tile,
        labels=[f"{p.hit.value:.3g}" for p in patches],
    )


def draw_box(image: np.ndarray, box: Box) -> np.ndarray:
    """``image`` with ``box`` drawn as a red frame just inside its edges (thicker on larger
    images, so it stays visible on a thumbnail)."""
    top, left, bottom, right = box
    picture = Image.fromarray(np.ascontiguousarray(image))
    width = max(2, round(image.shape[1] / 75))
    ImageDraw.Draw(picture).rectangle(
        (left, top, right - 1, bottom - 1), outline=(255, 0, 0), width=width
    )
    return np.asarray(picture)


def outlined(image: np.ndarray, field: ReceptiveField, y: int, x: int) -> np.ndarray:
    """``image`` with unit (y, x)'s receptive field drawn as a red box (clipped to the image)."""
    return draw_box(image, field_in_image(image, field, y, x))


def in_photo(index: NeuronIndex, patch: Patch) -> np.ndarray:
    """The photo a patch was cut from (as the network saw it), the patch's field boxed on it."""
    return draw_box(network_view(index, patch.hit.image_id), patch.box)
