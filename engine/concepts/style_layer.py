"""Content and style cost at one real VGG16 layer, with the layer's Gram matrix to show.

The formulas are ``engine.style.costs``' (Gatys et al. 2016), the ones the Style transfer page
optimises; here they are evaluated once on two images so the Concepts page can show what each
number compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from engine.backbones.vgg import VGGFeatures
from engine.style.costs import content_cost, gram_matrix, style_layer_cost, style_target

SIDE = 128
"""Both images are resized to SIDE × SIDE: quick on a CPU, and J_content needs equal sizes."""


@dataclass(frozen=True)
class LayerCosts:
    layer: str
    shape: tuple[int, int, int]
    """(n_C, n_H, n_W) of the layer's activations for the content image."""
    gram_content: np.ndarray
    """(n_C, n_C) Gram matrix G[l](C): G_kk' = Σ_ij a_ijk a_ijk'."""
    gram_style: np.ndarray
    content_cost: float
    """J_content(C, S) = ½ ‖a[l](C) − a[l](S)‖²: how far S's content is from C's."""
    style_cost: float
    """J_style[l](S, C): how far C's Gram matrix is from S's."""
    self_content_cost: float
    """J_content(C, C) = 0: an image has its own content exactly."""


def square(image: np.ndarray) -> np.ndarray:
    """The image resized to SIDE × SIDE (a writable copy)."""
    return np.array(Image.fromarray(np.ascontiguousarray(image)).resize((SIDE, SIDE)))


def layer_costs(
    network: VGGFeatures, content: np.ndarray, style: np.ndarray, layer: str
) -> LayerCosts:
    """J_content and J_style[l] between two RGB images at ``layer``, and both Gram matrices."""
    device = next(network.parameters()).device
    to_tensor = network.weights.transforms()
    with torch.no_grad():
        a_c = network(to_tensor(square(content), device), [layer])[layer]
        a_s = network(to_tensor(square(style), device), [layer])[layer]
        gram_c = gram_matrix(a_c)
        gram_s = style_target(a_s, a_c.shape[-2] * a_c.shape[-1])
        return LayerCosts(
            layer=layer,
            shape=tuple(a_c.shape[1:]),
            gram_content=gram_c.cpu().numpy(),
            gram_style=gram_s.cpu().numpy(),
            content_cost=float(content_cost(a_c, a_s)),
            style_cost=float(style_layer_cost(gram_s, a_c)),
            self_content_cost=float(content_cost(a_c, a_c)),
        )
