"""Per-channel top-k of spatial-max activations, in O(channels · k) memory.

DeepVis (Yosinski et al. 2015) ranks a unit's images by the unit's maximum over positions, then
crops the receptive field around that position; we do the same. ``ChannelTopK`` keeps, per
channel, the k best (value, image id, y, x) seen so far, sorted by value (ties: the lower image
id first, so the result does not depend on batch size or on where a run was resumed). Batches
merge on the device: the state is a few (C, k) tensors, never one row per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class TopKArrays:
    """The result as numpy arrays (C, k); unfilled slots have image −1 and value −inf."""

    values: np.ndarray
    images: np.ndarray
    ys: np.ndarray
    xs: np.ndarray


class ChannelTopK:
    """The k highest spatial maxima per channel, with the image and position of each."""

    def __init__(self, channels: int, k: int, device: torch.device | str = "cpu") -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.channels, self.k = channels, k
        self.values = torch.full((channels, k), -torch.inf, device=device)
        self.images = torch.full((channels, k), -1, dtype=torch.int64, device=device)
        self.ys = torch.zeros((channels, k), dtype=torch.int64, device=device)
        self.xs = torch.zeros((channels, k), dtype=torch.int64, device=device)

    def update(self, activations: Tensor, image_ids: Tensor) -> None:
        """Fold in a batch: activations (N, C, H, W) of images ``image_ids`` (N,), ascending and
        above every id seen before."""
        n, c, _, w = activations.shape
        if c != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {c}")
        # argmax returns the first maximum (row-major): a stable choice among equal positions.
        best, where = activations.detach().flatten(2).float().max(dim=2)  # (N, C)
        ids = image_ids.to(self.images.device).view(n, 1).expand(n, c)
        self._merge(best.T, ids.T, (where // w).T, (where % w).T)

    def merge(self, other: ChannelTopK) -> None:
        """Fold in another top-k over images that all come after this one's."""
        self._merge(other.values, other.images, other.ys, other.xs)

    def _merge(self, values: Tensor, images: Tensor, ys: Tensor, xs: Tensor) -> None:
        all_values = torch.cat([self.values, values.to(self.values.device)], dim=1)
        # A stable sort keeps earlier (lower-id) entries first among equal values.
        order = torch.sort(all_values, dim=1, descending=True, stable=True).indices[:, : self.k]
        for name, new in (("images", images), ("ys", ys), ("xs", xs)):
            merged = torch.cat([getattr(self, name), new.to(self.images.device)], dim=1)
            setattr(self, name, merged.gather(1, order))
        self.values = all_values.gather(1, order)

    def arrays(self) -> TopKArrays:
        return TopKArrays(
            values=self.values.cpu().numpy().astype(np.float32),
            images=self.images.cpu().numpy().astype(np.int64),
            ys=self.ys.cpu().numpy().astype(np.int32),
            xs=self.xs.cpu().numpy().astype(np.int32),
        )

    @classmethod
    def from_arrays(cls, arrays: TopKArrays, device: torch.device | str = "cpu") -> ChannelTopK:
        channels, k = arrays.values.shape
        top = cls(channels, k, device)
        top.values = torch.as_tensor(arrays.values, device=device).float()
        top.images = torch.as_tensor(arrays.images, device=device).long()
        top.ys = torch.as_tensor(arrays.ys, device=device).long()
        top.xs = torch.as_tensor(arrays.xs, device=device).long()
        return top
