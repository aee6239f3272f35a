"""What a style transfer run is asked to do, what it may cost, and the sizes it works at.

``StyleOptions`` is the run's documented config; ``check_budget`` bounds its cost in pixel-steps
(Σ over its scales of H × W × steps); ``output_shape`` and ``scale_shapes`` are the sizes
``engine.style.transfer.stylize`` optimises G at, and ``resize`` brings images to them. This
module imports no torch: ``cli.py stylize --help`` and the Style page read their defaults,
choices and costs here without loading the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from engine.backbones import VGG_NAMES
from engine.errors import VisionLabError

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = {"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2}
"""Gatys et al.'s choice: content from relu4_2, style equally from the first ReLU of each block."""
BACKBONES = VGG_NAMES
"""The VGG weights a run can use, by name (``engine.backbones.VGG_NAMES``, without torch)."""
MAX_SIDE = 1024
"""Output long side cap: a 1024 px step takes ~5 s on a 2-core CPU."""
MIN_SIDE = 32
"""Shorter outputs are enlarged: relu5_1 sits after four 2× poolings."""
BETA_PER_PIXEL = 3e-3
"""J_content is a sum over positions while J_style is normalised by them, so a β that balances
the two must grow with the output's area; this one gives a clearly styled image that keeps the
content's layout (tuned on astronaut × coffee at 128 and 384 px)."""
MIN_COARSE_SIDE = 64
"""Coarse-to-fine levels stop halving here; smaller ones carry too little structure to help."""
MAX_STYLE_WORK = 50_000_000
"""Default budget of one run in pixel-steps (``StyleOptions.work``): 512 × 512 px for 190 steps,
or 1024 px for 47; about 4 minutes on a 2-core CPU (a 1024 px step ≈ 5 s), seconds on a GPU.
An operator sets another with ``VISIONLAB_MAX_STYLE_WORK`` (``Settings.max_style_work``)."""


class StyleBudgetExceeded(VisionLabError):
    """A style transfer run would cost more pixel-steps than this server allows."""


Init = Literal["content", "noise", "style"]
Optimizer = Literal["lbfgs", "adam"]
Colour = Literal["none", "luminance", "histogram"]
Precision = Literal["auto", "float32", "bfloat16"]
"""Number format of G's pass through VGG (``engine.style.precision``)."""


@dataclass(frozen=True)
class StyleOptions:
    """What a style transfer run does. The defaults (256 px, 150 L-BFGS steps from the content,
    β = ``default_beta``, Gatys' five style layers) stylise clearly in about half a minute on a
    2-core CPU: on astronaut × Hubble deep field the style cost falls ~130× below the content
    image's own (``results.CLEARLY_STYLISED`` asks 10×), ~50–130× on the painted examples."""

    size: int = 256
    """Output long side in pixels (capped at ``max_side``)."""
    steps: int = 150
    """Optimiser iterations at full size."""
    alpha: float = 1.0
    """Content weight α."""
    beta: float | None = None
    """Style weight β; None: ``default_beta`` for the output size."""
    tv_weight: float = 0.0
    """Weight of the total-variation smoothness term (0: off)."""
    content_layer: str = CONTENT_LAYER
    style_layers: Mapping[str, float] = field(default_factory=lambda: dict(STYLE_LAYERS))
    """λ[l] per style layer."""
    blend: Sequence[float] | None = None
    """Weights of several style images (normalised to sum 1); None: equal."""
    init: Init = "content"
    optimizer: Optimizer = "lbfgs"
    learning_rate: float = 4.0
    """Adam's step, in 0–255 pixel units; L-BFGS uses no learning rate."""
    colour: Colour = "none"
    """Keep the content's colours: transfer luminance only, or match the style's histograms."""
    scales: int = 1
    """Coarse-to-fine levels, each half the next one's size (1: single scale)."""
    coarse_steps: int = 100
    """Iterations at each coarser level."""
    seed: int = 0
    every: int = 10
    """The callback gets the current image every this many steps (and at the end)."""
    backbone: str = "vgg16"
    max_side: int = MAX_SIDE
    cache_targets: bool = True
    """Off only to measure what caching saves (``bench.style``): targets recomputed each step."""
    truncate: bool = True
    """Off only to measure what cutting the network saves: every layer is computed."""
    precision: Precision = "auto"
    """Number format of G's pass through VGG; "auto": bfloat16 where the device has it in
    hardware (``engine.style.precision``), else float32."""
    target_loss: float | None = None
    """Stop at full size once J, evaluated in float32, is at or below this (None: run all
    ``steps``)."""

    def work(self, content_shape: tuple[int, int] | None = None) -> int:
        """What the run costs, in pixel-steps: Σ over its scales of H × W × that scale's steps.

        With the content's (H, W), exactly the sizes ``stylize`` will optimise; without, those
        of a square output, the most any content can cost at these options.
        """
        if content_shape is None:
            side = max(min(self.size, self.max_side), MIN_SIDE)
            h, w = side, side
        else:
            h, w, _ = output_shape(*content_shape, self)
        shapes = scale_shapes(h, w, self.scales)
        steps = [self.coarse_steps] * (len(shapes) - 1) + [self.steps]
        return sum(sh * sw * n for (sh, sw), n in zip(shapes, steps, strict=True))

    def check(self) -> None:
        if self.size < 1 or self.steps < 1 or self.scales < 1 or self.every < 1:
            raise ValueError("size, steps, scales and every must be 1 or more")
        if self.coarse_steps < 0:
            raise ValueError("coarse_steps must be 0 or more")
        if min(self.alpha, self.beta or 0.0, self.tv_weight) < 0:
            raise ValueError("α, β and the TV weight must be 0 or more")
        if not self.style_layers or min(self.style_layers.values()) < 0:
            raise ValueError("give at least one style layer, with weights 0 or more")
        for name, value in (("init", self.init), ("optimizer", self.optimizer)):
            allowed = {"init": Init, "optimizer": Optimizer}[name].__args__
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.colour not in Colour.__args__:
            raise ValueError(f"colour must be one of {', '.join(Colour.__args__)}")
        if self.precision not in Precision.__args__:
            raise ValueError(f"precision must be one of {', '.join(Precision.__args__)}")


def check_budget(
    options: StyleOptions, content_shape: tuple[int, int] | None, budget: int | None
) -> None:
    """``StyleBudgetExceeded``, with what would fit, when the run costs more than ``budget``."""
    work = options.work(content_shape)
    if budget is None or work <= budget:
        return
    h, w, _ = output_shape(*(content_shape or (options.size, options.size)), options)
    fits = budget // (h * w)
    hint = (
        f"at {w}×{h} px at most {fits:,} steps on one scale fit"
        if fits
        else f"even one step at {w}×{h} px does not fit; choose a smaller size"
    )
    raise StyleBudgetExceeded(
        f"This run would cost {work:,} pixel-steps (size² × steps, summed over its "
        f"{options.scales} scale{'s' if options.scales != 1 else ''}), over this server's "
        f"budget of {budget:,}: {hint}. Lower the size, the steps or the scales."
    )


def default_beta(height: int, width: int) -> float:
    """β that balances content and style for a (height, width) output (``BETA_PER_PIXEL``)."""
    return BETA_PER_PIXEL * height * width


def blend_weights(count: int, blend: Sequence[float] | None) -> list[float]:
    """Style images' weights, normalised to sum 1 (equal when not given)."""
    if blend is None:
        return [1.0 / count] * count
    if len(blend) != count:
        raise ValueError(f"{count} style image(s) but {len(blend)} blend weight(s)")
    if min(blend) < 0 or sum(blend) <= 0:
        raise ValueError("blend weights must be 0 or more and not all 0")
    return [b / sum(blend) for b in blend]


# --- geometry: the sizes a run works at, and images brought to them ------------------------------


def output_shape(height: int, width: int, options: StyleOptions) -> tuple[int, int, list[str]]:
    """(H, W) of the output: long side ``options.size`` capped at ``max_side``, short side at
    least ``MIN_SIDE``; with the notices that explain any change from what was asked."""
    notices = []
    side = options.size
    if side > options.max_side:
        notices.append(
            f"Output size {side} px is over the {options.max_side} px limit: made "
            f"{options.max_side}"
            " px on the long side."
        )
        side = options.max_side
    scale = side / max(height, width)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    if min(h, w) < MIN_SIDE:
        notices.append(
            f"The output would be {w}×{h} px; its short side was enlarged to {MIN_SIDE} px "
            "(the network needs at least that)."
        )
        h, w = max(h, MIN_SIDE), max(w, MIN_SIDE)
    return h, w, notices


def scale_shapes(h: int, w: int, scales: int) -> list[tuple[int, int]]:
    """The (H, W) of each coarse-to-fine level, coarsest first, ending at (h, w)."""
    shapes = [(h, w)]
    for _ in range(scales - 1):
        ph, pw = shapes[0]
        if max(ph, pw) // 2 < MIN_COARSE_SIDE or min(ph, pw) // 2 < MIN_SIDE:
            break
        shapes.insert(0, (ph // 2, pw // 2))
    return shapes


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if image.shape[:2] == (h, w):
        return image
    return np.array(Image.fromarray(image).resize((w, h), Image.Resampling.LANCZOS))


def resize_long_side(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = side / max(h, w)
    return resize(image, (max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale))))
