"""Typed errors of the neuron browser; pages turn them into plain messages."""

from __future__ import annotations

from engine.errors import ModelMismatch, VisionLabError


class UnknownLayer(VisionLabError, ValueError):
    """A layer name the chosen backbone does not have."""


class ChannelOutOfRange(VisionLabError, ValueError):
    """A channel number outside the layer's channels."""


class NoImagesFound(VisionLabError):
    """A dataset folder without a single image file."""


class IndexMismatch(ModelMismatch):
    """An index folder holds another model's, layer set's, k's or dataset's index."""


class NotAnIndex(VisionLabError):
    """A folder that holds no neuron index (or a damaged one)."""


class TooManyImages(VisionLabError):
    """A set of images larger than the index build allows (uploads are bounded per index)."""
