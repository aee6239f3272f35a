"""Which torch device the engine computes on."""

from __future__ import annotations

import os

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA when present, else CPU; ``VISIONLAB_DEVICE`` or ``preferred`` overrides."""
    choice = preferred or os.environ.get("VISIONLAB_DEVICE")
    if choice:
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
