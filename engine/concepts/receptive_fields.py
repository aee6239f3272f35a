"""How much of the image one unit of each VGG16 conv layer sees: why a "cat unit" lives deep.

Computed from the layer geometry with the Neurons page's receptive-field arithmetic
(``engine.neurons.receptive_field``). Only the geometry is needed — every conv 3×3, stride 1,
padding 1; every pool 2×2, stride 2 — so nothing is loaded and torchvision is not imported.
"""

from __future__ import annotations

from engine.neurons.receptive_field import IDENTITY, ReceptiveField, conv

VGG16_BLOCKS = (2, 2, 3, 3, 3)
"""Convolutions per block, VGG16's configuration "D" (Simonyan & Zisserman 2015, table 1)."""


def vgg16_receptive_fields() -> dict[str, ReceptiveField]:
    """Each VGG16 conv layer's receptive field (size in pixels, stride), input to output."""
    fields: dict[str, ReceptiveField] = {}
    span = IDENTITY
    for block, convs in enumerate(VGG16_BLOCKS, start=1):
        for index in range(1, convs + 1):
            span = span.then(conv(3, 1, 1))
            fields[f"conv{block}_{index}"] = ReceptiveField.of(span)
        span = span.then(conv(2, 2, 0))  # pool
    return fields
