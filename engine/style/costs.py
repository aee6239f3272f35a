"""The costs of neural style transfer, written as the formulas (Gatys, Ecker & Bethge, "Image
Style Transfer Using Convolutional Neural Networks", CVPR 2016).

Written out rather than taken from a library because the formulas are the point: the Style
transfer page shows them, and the tests check them against hand computations. Activations are
``(1, n_C, n_H, n_W)`` tensors, as a VGG layer returns them; a[l] below is one layer's.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def content_cost(a_c: Tensor, a_g: Tensor) -> Tensor:
    """J_content(C, G) = ½ ‖a[l](C) − a[l](G)‖²  (Gatys et al. 2016, eq. 1)."""
    return 0.5 * ((a_c - a_g) ** 2).sum()


def gram_matrix(a: Tensor) -> Tensor:
    """G[l]_kk' = Σ_i Σ_j a[l]_ijk · a[l]_ijk' — which channels fire together, summed over the
    n_H × n_W positions (eq. 3). Returns an (n_C, n_C) matrix."""
    n_c = a.shape[-3]
    features = a.reshape(n_c, -1)  # one row per channel, one column per position (i, j)
    return features @ features.T


def style_layer_cost(gram_s: Tensor, a_g: Tensor) -> Tensor:
    """J_style[l](S, G) = 1 / (2 n_H n_W n_C)² · Σ_k Σ_k' (G[l](S)_kk' − G[l](G)_kk')²  (eq. 4,
    with N_l = n_C filters and M_l = n_H n_W positions: 1 / (4 N_l² M_l²)).

    n_H, n_W, n_C are G's. ``gram_s`` must be summed over as many positions as G has; see
    ``style_target`` for a style image of another size.
    """
    n_c, n_h, n_w = a_g.shape[-3:]
    return ((gram_s - gram_matrix(a_g)) ** 2).sum() / (2 * n_h * n_w * n_c) ** 2


def style_target(a_s: Tensor, positions: int) -> Tensor:
    """G[l](S) rescaled to ``positions`` = n_H · n_W of G at that layer.

    A Gram matrix is a sum over positions, so a style image twice G's area gives twice the
    sums; rescaling by the position ratio keeps J_style about texture, not image size (it is
    exactly G[l](S) when S and G have the same size).
    """
    n_h, n_w = a_s.shape[-2:]
    return gram_matrix(a_s) * (positions / (n_h * n_w))


def style_cost(
    grams_s: Mapping[str, Tensor], a_g: Mapping[str, Tensor], weights: Mapping[str, float]
) -> Tensor:
    """J_style(S, G) = Σ_l λ[l] · J_style[l](S, G)  (eq. 5)."""
    terms = [weights[name] * style_layer_cost(grams_s[name], a_g[name]) for name in weights]
    return torch.stack(terms).sum()


def total_variation(x: Tensor) -> Tensor:
    """TV(G) = Σ (G[i+1, j] − G[i, j])² + (G[i, j+1] − G[i, j])²: penalises pixel-to-pixel noise
    (the optional smoothness term of Johnson et al. 2016; Mahendran & Vedaldi 2015)."""
    down = x[..., 1:, :] - x[..., :-1, :]
    right = x[..., :, 1:] - x[..., :, :-1]
    return (down**2).sum() + (right**2).sum()


def total_cost(
    content: Tensor, style: Tensor, tv: Tensor, alpha: float, beta: float, tv_weight: float
) -> Tensor:
    """J(G) = α J_content(C, G) + β J_style(S, G) (+ γ TV(G))  (eq. 7)."""
    return alpha * content + beta * style + tv_weight * tv
