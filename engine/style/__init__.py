"""Neural style transfer: Gatys et al.'s optimisation (``transfer``) over the costs written as
formulas (``costs``), with its options, budget and sizes (``options``) and what it reports
(``results``); colour preservation (``colour``), and a feed-forward fast preview (``fast``).

Everything but ``stylize``, ``image_costs`` and ``load_network`` imports without torch; those load
``transfer`` (and torch) when first asked for, so reading ``StyleOptions`` starts no network.
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.style.options import (
    CONTENT_LAYER,
    MAX_SIDE,
    MAX_STYLE_WORK,
    STYLE_LAYERS,
    StyleBudgetExceeded,
    StyleOptions,
)
from engine.style.results import StepLosses, StyleResult

__all__ = [
    "CONTENT_LAYER",
    "MAX_SIDE",
    "MAX_STYLE_WORK",
    "STYLE_LAYERS",
    "StepLosses",
    "StyleBudgetExceeded",
    "StyleOptions",
    "StyleResult",
    "image_costs",
    "load_network",
    "stylize",
]


def __getattr__(name: str) -> Any:
    """``stylize``, ``image_costs`` and ``load_network`` from ``transfer``, imported on first use
    (PEP 562)."""
    if name in ("image_costs", "load_network", "stylize"):
        return getattr(importlib.import_module("engine.style.transfer"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
