"""Neural style transfer by optimisation (Gatys, Ecker & Bethge, CVPR 2016).

G starts as the content image (or noise, or the style image) and its *pixels* are moved by
gradient descent on J(G) = α J_content + β J_style; the VGG weights never change. The content
activations and the style Gram matrices are computed once per scale, and the network is cut
after the deepest layer used. For large outputs, ``scales`` > 1 solves a half-size problem
first and upsamples it as the starting point (coarse to fine), which needs fewer of the costly
full-size steps. G's forward and backward passes run in bfloat16 where the hardware has it
(``precision``); the targets and costs stay float32. G's pixels are kept inside 0–255 by
optimising u with G = σ(u) scaled to the pixel range (``_to_logits``), so J is the cost of the
image shown.

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

GREY_LEVEL_IN_LOGITS = 4.0 / 255.0
"""One grey level, as a change of u at mid-grey (dσ/du = 1/4 there).

It sets the optimisers' first steps. L-BFGS's first step is ``lr`` / ‖g‖₁ along −g, an L1 length
of ``lr``; the usual lr = 1 moves each value by ~1e-5 of a grey level, which in bfloat16 changes
G's activations less than their rounding: the first curvature pair was noise and the second step
sent J from 1e11 to 1e26. One grey level per value, on average, gives a real pair in both
formats. Adam's ``learning_rate`` is in grey levels too."""
REJECTED_RISE = 0.01
"""An L-BFGS step that raises J by more than this fraction is taken back, and L-BFGS restarts
from the point before it with no history. L-BFGS here has no line search (a strong-Wolfe search
costs two evaluations a step and stalled on saturated styles); a quasi-Newton step from a poor
curvature pair can send pixels deep into σ's flat tails, where their gradient vanishes and the
run stays stuck (painted "bold ribbons" at 128 px, 150 steps: J ends 17× above its start, style
ratio 0.1; with the guard J ends at 0.007×, ratio 347). Small rises, within this fraction, are
kept: L-BFGS recovers from them by itself."""


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
    with torch.no_grad():  # float32, at the size of the last level run
        own = problem.costs(net.weights.transforms()(problem.content_image, device), exact=True)
        style_ratio = own[2].item() / max(problem.costs(x, exact=True)[2].item(), 1e-30)
    return StyleResult(
        image=image,
        history=history,
        notices=notices,
        cancelled=cancelled,
        seconds=time.monotonic() - started,
        options=options,
        target_reached=reached if options.target_loss is not None else None,
        dtype=str(dtype).removeprefix("torch."),
        style_ratio=style_ratio,
    )


def image_costs(
    image: ImageSource,
    content: ImageSource,
    styles: ImageSource | Sequence[ImageSource],
    options: StyleOptions | None = None,
    *,
    network: VGGFeatures | None = None,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """(J_content, J_style) of ``image`` taken as G, in float32 at its own size, with
    ``options``' layers and blend: how a picture scores, whoever made it. The content image's
    own J_style over a result's is ``StyleResult.style_ratio``; the style image's J_content
    says how far a picture with none of C's layout is."""
    options = options or StyleOptions()
    device = torch.device(device)
    pixels = load_image(image)
    sources = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    weights = blend_weights(len(sources), options.blend)
    shape = pixels.shape[:2]
    content_l = resize(load_image(content), shape)
    styles_l = [resize_long_side(load_image(s), max(shape)) for s in sources]
    net = load_network(options, device, network).to(device)
    problem = _Problem(net, net, torch.float32, content_l, styles_l, weights, options, device)
    with torch.no_grad():
        _, j_content, j_style, _ = problem.costs(net.weights.transforms()(pixels, device), True)
    return j_content.item(), j_style.item()


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
    """Run ``steps`` iterations on G = x's pixels, moved through u (``_to_logits``) so they stay
    inside 0–255; returns the new x, whether it was cancelled and whether it reached
    ``options.target_loss``."""
    lo, hi = _pixel_bounds(problem.network, x)
    u = _to_logits(x.detach(), lo, hi).requires_grad_(True)
    first_length = u.numel() * GREY_LEVEL_IN_LOGITS
    optimiser = _optimiser(u, options, first_length)
    lbfgs = options.optimizer == "lbfgs"
    side = max(x.shape[-2:])
    seen: list[tuple[float, float, float, float]] = []

    def pixels() -> Tensor:
        """G in the network's input convention: every value a pixel can hold, no other."""
        return lo + (hi - lo) * torch.sigmoid(u)

    def closure() -> Tensor:
        optimiser.zero_grad()
        j, j_content, j_style, tv = problem.costs(pixels())
        j.backward()
        seen.append((j.item(), j_content.item(), j_style.item(), tv.item()))
        return j

    kept: tuple[Tensor, tuple[float, float, float, float]] | None = None
    for i in range(1, steps + 1):
        seen.clear()
        start = u.detach().clone()
        optimiser.step(closure)  # L-BFGS and Adam both evaluate J once, at the start
        costs = seen[0]
        if lbfgs and kept is not None and costs[0] > kept[1][0] * (1.0 + REJECTED_RISE):
            with torch.no_grad():  # the last step raised J: take it back, start L-BFGS afresh
                u.copy_(kept[0])
            optimiser = _optimiser(u, options, first_length)
            costs = kept[1]
        else:
            kept = (start, costs)
            if lbfgs:
                _set_next_step(optimiser, u, first_length)
        total, j_content, j_style, tv = costs
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
        with torch.no_grad():
            x = pixels()
        reached = last_level and _reached(problem, x, total, options.target_loss)
        if callback is not None:
            show = i % options.every == 0 or (i == steps and last_level) or reached
            luminance_only = options.colour == "luminance"
            image = _to_image(problem.network, x, content, luminance_only) if show else None
            if callback(losses, image):
                return x, True, False
        if reached:
            return x, False, True
    with torch.no_grad():
        return pixels(), False, False


def _optimiser(u: Tensor, options: StyleOptions, first_length: float) -> torch.optim.Optimizer:
    if options.optimizer == "adam":
        return torch.optim.Adam([u], lr=options.learning_rate * GREY_LEVEL_IN_LOGITS)
    # max_iter=1 per call: one closure evaluation per step, so the callback sees every step;
    # L-BFGS keeps its curvature history across calls. Its first step is lr / ‖g‖₁ along −g.
    return torch.optim.LBFGS(
        [u],
        lr=first_length,
        max_iter=1,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )


def _set_next_step(optimiser: torch.optim.Optimizer, u: Tensor, first_length: float) -> None:
    """After L-BFGS's first step: lr = 1, the quasi-Newton step itself; and while L-BFGS holds
    no curvature pair, its inverse-Hessian guess ``H_diag`` (PyTorch's state, 1 until a pair
    replaces it) set so that a plain gradient step keeps the first step's length.

    With H_diag = 1, a step taken without a pair (the first one refused for negative curvature)
    is lr · (−g), ~1e6 per value: with unbounded pixels J went to infinity and stuck (a painted
    style at 128 px); through σ it saturates G. Lowering lr instead also shrank the
    quasi-Newton step when the pair was accepted, which L-BFGS only decides at the next step.
    Measured at 256 px, 150 steps: steps taken back (``REJECTED_RISE``) 4 → 0 on the default
    pair, 52 → 0 on "bold ribbons", whose style ratio rose from 510 to 694.
    """
    optimiser.param_groups[0]["lr"] = 1.0
    state = optimiser.state[u]
    if not state.get("old_dirs") and u.grad is not None:  # PyTorch's list of stored pairs
        state["H_diag"] = first_length / max(u.grad.abs().sum().item(), 1e-30)


def _pixel_bounds(network: VGGFeatures, like: Tensor) -> tuple[Tensor, Tensor]:
    """The network-input values of pixel 0 and pixel 255, per channel: (lo, hi), (1, 3, 1, 1)."""
    transforms = network.weights.transforms()
    mean = torch.tensor(transforms.mean, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    std = torch.tensor(transforms.std, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    return (0.0 - mean) / std, (transforms.scale - mean) / std


def _to_logits(x: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """u with G = lo + (hi − lo) · σ(u) equal to x (values at or beyond black and white are
    taken half a grey level inside, where the logit is finite).

    Why the optimiser moves u and not G's pixels: unbounded, G drifts out of 0–255 to lower J.
    With the Hubble deep field as style, 17 % of the values at 128 px went below black (down
    to −218) to paint its dark sky, and the image a user sees, clipped to 0–255, had a style
    cost 12.7× the optimiser's (6.2e8 against 4.9e7): a faded photo with a few stars. Clamping
    after each step broke L-BFGS's curvature pairs (J rose at 42 of 150 steps); through σ, J
    falls at every step and is the cost of the image shown (128 px, 150 steps: J_style 145×
    below the content image's, against 47× clamped).
    """
    eps = 0.5 / 255.0
    return torch.logit(((x - lo) / (hi - lo)).clamp(eps, 1.0 - eps)).contiguous()


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
