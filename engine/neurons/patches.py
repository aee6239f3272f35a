"""Receptive-field crops and the image grids the page and ``show-neuron`` draw.

A unit's field often hangs over the image border (the network zero-pads its input), so a crop
is always the full field size, with the part outside the image filled — grey by default — and
the image pixels exactly where the field sees them.
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

PAD_GREY = 128


def crop_field(
    image: np.ndarray, field: ReceptiveField, y: int, x: int, fill: int = PAD_GREY
) -> np.ndarray:
    """The (size, size, 3) part of ``image`` that unit (y, x) sees, filled outside the image."""
    top, left, bottom, right = field.box(y, x)
    h, w = image.shape[:2]
    patch = np.full((field.size, field.size, 3), fill, dtype=np.uint8)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(bottom, h), min(right, w)
    if src_top < src_bottom and src_left < src_right:
        patch[src_top - top : src_bottom - top, src_left - left : src_right - left] = image[
            src_top:src_bottom, src_left:src_right
        ]
    return patch


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """Square ``image`` resized to ``size`` (nearest when enlarging, so pixels stay visible)."""
    if image.shape[0] == size:
        return image
    resample = Image.Resampling.NEAREST if image.shape[0] < size else Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(image).resize((size, size), resample))


def grid(
    images: Sequence[np.ndarray],
    columns: int,
    tile: int = 96,
    gap: int = 4,
    labels: Sequence[str] | None = None,
    background: int = 255,
) -> np.ndarray:
    """Square images as one ``columns``-wide sheet of ``tile``-pixel tiles, optionally captioned."""
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
        sheet.paste(Image.fromarray(thumbnail(np.ascontiguousarray(image), tile)), (left, top))
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
        tiles.append(thumbnail(np.round(scaled * 255).astype(np.uint8), tile))
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
    hit: Hit
    pixels: np.ndarray


def top_patches(index: NeuronIndex, layer: str, channel: int) -> list[Patch]:
    """The channel's top-k receptive-field crops, best first."""
    field = index.layer(layer).receptive_field
    return [
        Patch(hit, crop_field(network_view(index, hit.image_id), field, hit.y, hit.x))
        for hit in index.hits(layer, channel)
    ]


def best_patches(
    index: NeuronIndex, layer: str, channels: Sequence[int] | None = None
) -> list[np.ndarray | None]:
    """Each channel's best crop (None for a channel that never saw an image): the overview.
    ``channels`` defaults to all of the layer's."""
    field = index.layer(layer).receptive_field
    out: list[np.ndarray | None] = []
    for channel in range(index.layer(layer).channels) if channels is None else channels:
        hits = index.hits(layer, channel)[:1]
        out.append(
            crop_field(network_view(index, hits[0].image_id), field, hits[0].y, hits[0].x)
            if hits
            else None
        )
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


def outlined(image: np.ndarray, field: ReceptiveField, y: int, x: int) -> np.ndarray:
    """``image`` with unit (y, x)'s receptive field drawn as a red box (clipped to the image)."""
    top, left, bottom, right = field.box(y, x)
    h, w = image.shape[:2]
    picture = Image.fromarray(image)
    box = (max(left, 0), max(top, 0), min(right, w) - 1, min(bottom, h) - 1)
    ImageDraw.Draw(picture).rectangle(box, outline=(255, 0, 0), width=max(1, w // 150))
    return np.asarray(picture)
