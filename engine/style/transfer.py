"""Neural style transfer by optimisation (Gatys, Ecker & Bethge, CVPR 2016).

G starts as the content image (or noise, or the style image) and its *pixels* are moved by
gradient descent on J(G) = α J_content + β J_style; the VGG weights never change. The content
activations and the style Gram matrices are computed once per scale, and the network is cut
after the deepest layer used. For large outputs, ``scales`` > 1 solves a half-size problem
first and upsamples it as the starting point (coarse to fine), which needs fewer of the costly
full-size steps. G's forward and backward passes run in bfloat16 where the hardware has it
(``precision``); the targets and costs stay float32.

What a run is asked, its budget and its sizes are ``engine.style.options``; what it reports,
``engine.style.results``; the costs themselves, as formulas, ``engine.style.costs``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.backbones.vgg import VGGFeatures
from engine.images import ImageSource, load_image
from engine.style import colour
from engine.style.costs import (
    content_cost,
    style_cost,
    style_target,
    total_cost,
    total_variation,
)
from engine.style.options import (
    MAX_STYLE_WORK,
    Init,
    StyleOptions,
    blend_weights,
    check_budget,
    default_beta,
    output_shape,
    resize,
    resize_long_side,
    scale_shapes,
)
from engine.style.precision import compute_dtype, compute_network, network_input
from engine.style.results import Callback, StepLosses, StyleResult


@dataclass
class _Targets:
    """What G is compared with at one scale: computed once (unless measuring without cache)."""

    content: Tensor
    grams: dict[str, Tensor]


class _Problem:
    """One scale's optimisation problem: the network, the images, and J(G).

    ``network`` (float32) computes the targets and the exact J; ``compute`` (the same network
    in ``dtype``) runs G's passes of the optimisation.
    """

    def __init__(
        self,
        network: VGGFeatures,
        compute: VGGFeatures,
        dtype: torch.dtype,
        content: np.ndarray,
        styles: list[np.ndarray],
        weights: list[float],
        options: StyleOptions,
        device: torch.device,
    ) -> None:
        self.network, self.options, self.device = network, options, device
        self.compute, self.dtype = compute, dtype
        self.content_image, self.styles, self.weights = content, styles, weights
        self.layers = [options.content_layer, *options.style_layers]
        self.targets = self._targets() if options.cache_targets else None

    def activations(self, x: Tensor, network: VGGFeatures | None = None) -> dict[str, Tensor]:
        """float32 activations of the layers J uses (through ``network``, else float32)."""
        network = network or self.network
        if self.options.truncate:
            out = network(x, self.layers)
        else:  # the naive way, for the benchmark: run all of the stack, keep what is asked for
            wanted, out = set(self.layers), {}
            for name, module in zip(network.names, network.features, strict=True):
                x = module(x)
                if name in wanted:
                    out[name] = x
        return {name: a.float() for name, a in out.items()}

    def _targets(self) -> _Targets:
        to_tensor = self.network.weights.transforms()
        with torch.no_grad():
            content = self.activations(to_tensor(self.content_image, self.device))
            grams: dict[str, Tensor] = {}
            for style, weight in zip(self.styles, self.weights, strict=True):
                a_s = self.activations(to_tensor(style, self.device))
                for name in self.options.style_layers:
                    # G's positions at this layer, from the content activations of G's size.
                    positions = content[name].shape[-1] * content[name].shape[-2]
                    gram = weight * style_target(a_s[name], positions)
                    grams[name] = grams[name] + gram if name in grams else gram
        return _Targets(content[self.options.content_layer], grams)

    def costs(self, x: Tensor, exact: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(J, J_content, J_style, TV) at G = x: G's pass in the compute dtype, or in float32
        when ``exact``."""
        targets = self.targets if self.targets is not None else self._targets()
        options = self.options
        if exact:
            acts = self.activations(x)
        else:
            acts = self.activations(network_input(x, self.dtype), self.compute)
        j_content = content_cost(targets.content, acts[options.content_layer])
        j_style = style_cost(targets.grams, acts, options.style_layers)
        tv = total_variation(x) if options.tv_weight else x.new_zeros(())
        beta = options.beta or 0.0
        j = total_cost(j_content, j_style, tv, options.alpha, beta, options.tv_weight)
        return j, j_content, j_style, tv


def load_network(
    options: StyleOptions, device: torch.device | str = "cpu", network: VGGFeatures | None = None
) -> VGGFeatures:
    """The backbone cut after the deepest layer ``options`` uses (or whole, to measure).

    ``network`` (a cached full or longer stack) is sliced rather than reloaded: the slices
    share its frozen weights.
    """
    layers = [options.content_layer, *options.style_layers]
    if network is None:
        network = VGGFeatures.load(options.backbone, device=device)
    order = network.weights.layers
    for name in layers:
        if name not in order:
            raise ValueError(f"{network.weights.name} has no layer {name!r}")
    if not options.truncate:
        return network
    deepest = max(order.index(name) for name in layers)
    if deepest >= len(network.features):
        raise ValueError(f"layer {order[deepest]} lies beyond the given network")
    return VGGFeatures(network.weights, network.features[: deepest + 1])


def stylize(
    content: ImageSource,
    styles: ImageSource | Sequence[ImageSource],
    options: StyleOptions | None = None,
    *,
    callback: Callback | None = None,
    network: VGGFeatures | None = None,
    device: torch.device | str = "cpu",
    budget: int | None = MAX_STYLE_WORK,
) -> StyleResult:
    """G that keeps ``content``'s content in the style of ``styles`` (one image or several,
    mixed by ``options.blend``: their Gram matrices are averaged with those weights).

    ``StyleBudgetExceeded`` before any work when ``options.work`` for this content is over
    ``budget`` pixel-steps (None: no bound, for an operator's own runs)."""
    options = options or StyleOptions()
    options.check()
    started = time.monotonic()
    device = torch.device(device)
    style_sources = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if not style_sources:
        raise ValueError("give at least one style image")
    weights = blend_weights(len(style_sources), options.blend)
    content_image = load_image(content)
    style_images = [load_image(s) for s in style_sources]

    h, w, notices = output_shape(*content_image.shape[:2], options)
    check_budget(options, content_image.shape[:2], budget)
    if options.beta is None:
        options = replace(options, beta=default_beta(h, w))
    if options.colour == "histogram":
        style_images = [colour.match_histograms(s, content_image) for s in style_images]
    luminance_only = options.colour == "luminance"

    net = load_network(options, device, network).to(device)
    dtype = compute_dtype(options.precision, device)
    compute = compute_network(net, dtype)
    generator = torch.Generator().manual_seed(options.seed)
    shapes = scale_shapes(h, w, options.scales)
    history: list[StepLosses] = []
    x: Tensor | None = None
    cancelled = reached = False
    for level, shape in enumerate(shapes):
        content_l = resize(content_image, shape)
        styles_l = [resize_long_side(s, max(shape)) for s in style_images]
        if luminance_only:
            styles_l = [colour.match_luminance(s, content_l) for s in styles_l]
            target_content = colour.luminance_of(content_l)
        else:
            target_content = content_l
        # β is for the full size; a coarser level's J_content sums over fewer positions.
        level_beta = (options.beta or 0.0) * shape[0] * shape[1] / (h * w)
        level_options = replace(options, beta=level_beta)
        problem = _Problem(
            net, compute, dtype, target_content, styles_l, weights, level_options, device
        )
        if x is None:
            x = _initial_image(options.init, target_content, styles_l[0], net, generator, device)
        else:  # coarse to fine: the last level's result, upsampled, is the starting point
            x = _upsample(x.detach(), net.weights.transforms()(target_content, device))
        last_level = level == len(shapes) - 1
        steps = options.steps if last_level else options.coarse_steps
        x, cancelled, reached = _optimise(
            problem, x, steps, options, history, started, callback, content_l, last_level
        )
        if cancelled or reached:
            break
    assert x is not None
    final_content = resize(content_image, (x.shape[-2], x.shape[-1]))
    image = _to_image(net, x, final_content, luminance_only)
    return StyleResult(
        image=image,
        history=history,
        notices=notices,
        cancelled=cancelled,
        seconds=time.monotonic() - started,
        options=options,
        target_reached=reached if options.target_loss is not None else None,
        dtype=str(dtype).removeprefix("torch."),
    )


def _upsample(x: Tensor, content: Tensor) -> Tensor:
    """The coarse result at the content's size, plus the content's own fine detail (what a
    downsample-upsample round trip of the content loses): upsampling alone leaves G blurred,
    and the full-size steps then go to restoring edges (measured: ~10 % fewer steps to a
    given J with the detail added)."""
    size = content.shape[-2:]
    up = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    coarse = F.interpolate(content, size=x.shape[-2:], mode="area")
    lost = content - F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    return up + lost


def _initial_image(
    init: Init,
    content: np.ndarray,
    style: np.ndarray,
    network: VGGFeatures,
    generator: torch.Generator,
    device: torch.device,
) -> Tensor:
    if init == "content":
        pixels = content
    elif init == "style":
        pixels = resize(style, content.shape[:2])
    else:
        noise = torch.randint(0, 256, (*content.shape[:2], 3), generator=generator)
        pixels = noise.to(torch.uint8).numpy()
    return network.weights.transforms()(pixels, device)


def _to_image(
    network: VGGFeatures, x: Tensor, content: np.ndarray, luminance_only: bool
) -> np.ndarray:
    image = network.weights.transforms().inverse(x)
    return colour.with_chroma_of(image, content) if luminance_only else image


def _optimise(
    problem: _Problem,
    x: Tensor,
    steps: int,
    options: StyleOptions,
    history: list[StepLosses],
    started: float,
    callback: Callback | None,
    content: np.ndarray,
    last_level: bool,
) -> tuple[Tensor, bool, bool]:
    """Run ``steps`` iterations on x's pixels; returns the new x, whether it was cancelled and
    whether it reached ``options.target_loss``."""
    x = x.detach().contiguous().clone().requires_grad_(True)
    if options.optimizer == "lbfgs":
        # max_iter=1 per call: one closure evaluation per step, so the callback sees every
        # step; L-BFGS keeps its curvature history across calls.
        optimiser: torch.optim.Optimizer = torch.optim.LBFGS(
            [x],
            lr=_first_step_length(x, problem.network),
            max_iter=1,
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    else:
        optimiser = torch.optim.Adam([x], lr=options.learning_rate)
    side = max(x.shape[-2:])
    seen: list[tuple[float, float, float, float]] = []

    def closure() -> Tensor:
        optimiser.zero_grad()
        j, j_content, j_style, tv = problem.costs(x)
        j.backward()
        seen.append((j.item(), j_content.item(), j_style.item(), tv.item()))
        return j

    for i in range(1, steps + 1):
        seen.clear()
        optimiser.step(closure)  # L-BFGS and Adam both evaluate J once, at the start
        if i == 1 and options.optimizer == "lbfgs":
            optimiser.param_groups[0]["lr"] = 1.0  # later steps: the quasi-Newton step itself
        total, j_content, j_style, tv = seen[0]
        losses = StepLosses(
            step=len(history) + 1,
            side=side,
            content=j_content,
            style=j_style,
            tv=tv,
            total=total,
            seconds=time.monotonic() - started,
        )
        history.append(losses)
        reached = last_level and _reached(problem, x, total, options.target_loss)
        if callback is not None:
            show = i % options.every == 0 or (i == steps and last_level) or reached
            luminance_only = options.colour == "luminance"
            image = _to_image(problem.network, x, content, luminance_only) if show else None
            if callback(losses, image):
                return x.detach(), True, False
        if reached:
            return x.detach(), False, True
    return x.detach(), False, False


def _first_step_length(x: Tensor, network: VGGFeatures) -> float:
    """The L1 length of L-BFGS's first step: one grey level per pixel value, on average.

    L-BFGS's first step is ``lr`` / ‖g‖₁ along −g, an L1 length of ``lr``; the usual lr = 1
    moves each value by ~1e-5 of a grey level. In bfloat16 that changes G's activations less
    than their rounding, so the first curvature pair (the change of gradient over the change of
    G) was noise and the second step sent J from 1e11 to 1e26. A one-grey-level step gives a
    real pair in both formats (float32 at 256 px: J 8.07e9 after 300 steps, 8.08e9 with lr 1).
    """
    transforms = network.weights.transforms()
    grey_level = transforms.scale / 255.0 / (sum(transforms.std) / len(transforms.std))
    return x.numel() * grey_level


def _reached(problem: _Problem, x: Tensor, total: float, target: float | None) -> bool:
    """Whether J(x) <= target in float32. ``total`` (J before the step, in the compute dtype)
    screens: the exact evaluation, one float32 forward pass, runs only when it is at or below
    the target."""
    if target is None or total > target:
        return False
    if problem.dtype == torch.float32:
        return True
    with torch.no_grad():
        return problem.costs(x, exact=True)[0].item() <= target
