"""Optional: activation maximisation — an input image that a channel responds to strongly.

Gradient ascent on the input (Erhan et al. 2009; Simonyan et al. 2014) with the regularisers of
Yosinski et al. 2015 ("Understanding Neural Networks Through Deep Visualization"): each step
jitters the image by a few pixels, follows the normalised gradient of the channel's activation
at the centre unit, and every few steps blurs the image a little and clips it to the range of
real pixels. Without the regularisers the result is high-frequency noise that also activates
the unit; with them it tends to show the pattern the top patches share.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine.neurons.backbones import Backbone


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, round(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel, groups=3)
    return F.conv2d(
        F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel.transpose(2, 3), groups=3
    )


def maximize_channel(
    backbone: Backbone,
    layer: str,
    channel: int,
    *,
    steps: int = 60,
    size: int | None = None,
    step_size: float = 0.05,
    jitter: int = 4,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, float]:
    """An RGB uint8 image that activates (layer, channel) at the centre unit, and that unit's
    activation on it (``steps=0``: the grey start). ``size`` defaults to the backbone's input
    size (the face network's must be 150)."""
    backbone.layer(layer)  # UnknownLayer before any work
    channels = backbone.layer(layer).channels
    if not 0 <= channel < channels:
        from engine.neurons.errors import ChannelOutOfRange

        raise ChannelOutOfRange(f"layer {layer} has channels 0–{channels - 1}, not {channel}")
    size = size or backbone.input_size
    generator = torch.Generator().manual_seed(seed)
    grey = np.full((1, size, size, 3), 128, dtype=np.uint8)
    base = backbone.to_tensor(grey).contiguous()
    # Pixel range in the network's input space, per channel, to clip to.
    low = backbone.to_tensor(np.zeros_like(grey)).amin(dim=(0, 2, 3)).view(1, 3, 1, 1)
    high = backbone.to_tensor(np.full_like(grey, 255)).amax(dim=(0, 2, 3)).view(1, 3, 1, 1)
    spread = (high - low).abs()
    noise = torch.randn(base.shape, generator=generator).to(base.device) * 0.05 * spread
    x = (base + noise).detach()
    for step in range(steps):
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
        shifted = torch.roll(x, (dy, dx), dims=(2, 3)).requires_grad_(True)
        act = backbone(shifted, [layer])[layer][0, channel]
        objective = act[act.shape[0] // 2, act.shape[1] // 2]
        (grad,) = torch.autograd.grad(objective, shifted)
        grad = torch.roll(grad, (-dy, -dx), dims=(2, 3))
        x = x + step_size * spread * grad / (grad.abs().amax() + 1e-12)
        if blur_every and (step + 1) % blur_every == 0:
            x = _blur(x, blur_sigma)
        x = torch.maximum(torch.minimum(x, high), low).detach()
        if progress is not None:
            progress(step + 1, steps)
    return backbone.to_image(x), _centre_activation(backbone, x, layer, channel)


def _centre_activation(backbone: Backbone, x: torch.Tensor, layer: str, channel: int) -> float:
    with torch.inference_mode():
        act = backbone(x, [layer])[layer][0, channel]
    return float(act[act.shape[0] // 2, act.shape[1] // 2])
