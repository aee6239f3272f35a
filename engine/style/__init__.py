"""Neural style transfer: Gatys et al.'s optimisation (``transfer``) over the costs written as
formulas (``costs``), colour preservation (``colour``), and a feed-forward fast preview
(``fast``)."""

from engine.style.transfer import (
    CONTENT_LAYER,
    MAX_SIDE,
    MAX_STYLE_WORK,
    STYLE_LAYERS,
    StepLosses,
    StyleBudgetExceeded,
    StyleOptions,
    StyleResult,
    load_network,
    stylize,
)

__all__ = [
    "CONTENT_LAYER",
    "MAX_SIDE",
    "MAX_STYLE_WORK",
    "STYLE_LAYERS",
    "StepLosses",
    "StyleBudgetExceeded",
    "StyleOptions",
    "StyleResult",
    "load_network",
    "stylize",
]
