"""What a style transfer run reports: the costs at each step, as it goes (``Callback``), and the
image with its history at the end (``StyleResult``). Imports no torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.style.options import StyleOptions


@dataclass(frozen=True)
class StepLosses:
    """The costs at one optimiser step (evaluated before that step's update)."""

    step: int
    """1-based, counted across all scales."""
    side: int
    """Long side of the image at this step's scale."""
    content: float
    style: float
    tv: float
    total: float
    seconds: float
    """Since the run started (targets and network included)."""


CLEARLY_STYLISED = 10.0
"""What "clearly stylised" means in numbers: G's style cost at least this many times below the
content image's own (J_style(C) / J_style(G), float32). Measured on the default pair (astronaut ×
Hubble deep field, 256 px): the faded photo with stars in one corner that the issue showed had
2.5 once clipped to pixels; the default run now reaches ~130, More content ~8."""

Callback = Callable[[StepLosses, "np.ndarray | None"], "bool | None"]
"""Called after every step with its losses, and every ``every`` steps with the current image
(else None). Return True to stop the run early."""


@dataclass
class StyleResult:
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    history: list[StepLosses]
    notices: list[str]
    """Things the user should know (an output size capped, a tiny input enlarged)."""
    cancelled: bool
    seconds: float
    options: StyleOptions
    target_reached: bool | None = None
    """Whether J (float32) fell to ``options.target_loss``; None when no target was set."""
    dtype: str = "float32"
    """The number format G's VGG passes ran in."""
    style_ratio: float | None = None
    """J_style of the content image itself over J_style of G, both in float32 at the output
    size: how many times the style cost fell (``CLEARLY_STYLISED`` or more: clearly stylised)."""

    @property
    def clearly_stylised(self) -> bool:
        return self.style_ratio is not None and self.style_ratio >= CLEARLY_STYLISED

    def as_dict(self) -> dict[str, Any]:
        options = asdict(self.options)
        options["style_layers"] = dict(self.options.style_layers)
        return {
            "height": int(self.image.shape[0]),
            "width": int(self.image.shape[1]),
            "steps_run": len(self.history),
            "cancelled": self.cancelled,
            "target_reached": self.target_reached,
            "dtype": self.dtype,
            "style_ratio": self.style_ratio,
            "seconds": round(self.seconds, 3),
            "notices": self.notices,
            "options": options,
            "history": [asdict(h) for h in self.history],
        }
