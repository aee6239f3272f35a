"""Which torch device the engine computes on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA when present, else CPU; ``preferred`` (``Settings.device``) overrides."""
    choice = preferred
    if choice:
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def full_float32_convolutions(device: torch.device) -> Iterator[None]:
    """Run CUDA convolutions in full float32 instead of PyTorch's default TF32.

    TF32 keeps 10 mantissa bits: it moves descriptors and detector scores by ~1e-3, enough to
    flip borderline detections and to make a stored gallery depend on the machine that
    embedded it. dlib computes in float32. The flag is process-wide, so it is restored right
    after; callers hold their model's lock.
    """
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = previous
