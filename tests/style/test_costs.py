"""The costs are the formulas of Gatys et al. 2016, checked against hand computations."""

from __future__ import annotations

import pytest
import torch

from engine.style.costs import (
    content_cost,
    gram_matrix,
    style_cost,
    style_layer_cost,
    style_target,
    total_cost,
    total_variation,
)


def test_gram_matrix_equals_a_hand_computation() -> None:
    # Two channels on a 2 × 2 grid: a[:, k] lists channel k's four values.
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 2.0]]]])
    # G_00 = 1+4+9+16 = 30; G_01 = 0+2-3+8 = 7; G_11 = 0+1+1+4 = 6.
    torch.testing.assert_close(gram_matrix(a), torch.tensor([[30.0, 7.0], [7.0, 6.0]]))


def test_gram_matrix_is_a_sum_over_positions_of_outer_products() -> None:
    a = torch.randn(1, 5, 3, 4, dtype=torch.float64)
    by_loop = sum(torch.outer(a[0, :, i, j], a[0, :, i, j]) for i in range(3) for j in range(4))
    torch.testing.assert_close(gram_matrix(a), by_loop)


def test_content_cost_is_half_the_squared_distance() -> None:
    a_c = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    a_g = torch.tensor([[[[1.0, 0.0]], [[0.0, 4.0]]]])
    assert content_cost(a_c, a_g).item() == pytest.approx(0.5 * (4 + 9))
    assert content_cost(a_c, a_c).item() == 0.0


def test_style_layer_cost_normalisation() -> None:
    # n_C = 2, n_H = 1, n_W = 2: G(G) = [[1, 0], [0, 1]] from one-hot channels.
    a_g = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    gram_s = torch.tensor([[3.0, 1.0], [1.0, 1.0]])
    squared = (3 - 1) ** 2 + 1 + 1 + 0  # Σ_k Σ_k' (G(S) − G(G))²
    expected = squared / (2 * 1 * 2 * 2) ** 2
    assert style_layer_cost(gram_s, a_g).item() == pytest.approx(expected)
    assert style_layer_cost(gram_matrix(a_g), a_g).item() == 0.0


def test_style_target_rescales_to_g_positions() -> None:
    a_s = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(style_target(a_s, 16), gram_matrix(a_s))
    torch.testing.assert_close(style_target(a_s, 4), gram_matrix(a_s) / 4)


def test_style_cost_weights_the_layers() -> None:
    a = {"x": torch.rand(1, 2, 3, 3), "y": torch.rand(1, 4, 2, 2)}
    grams = {name: torch.rand(v.shape[1], v.shape[1]) for name, v in a.items()}
    weights = {"x": 0.25, "y": 2.0}
    expected = 0.25 * style_layer_cost(grams["x"], a["x"]) + 2 * style_layer_cost(
        grams["y"], a["y"]
    )
    torch.testing.assert_close(style_cost(grams, a, weights), expected)


def test_total_variation_and_total_cost() -> None:
    x = torch.tensor([[[[0.0, 1.0], [3.0, 3.0]]]])
    # Vertical differences 3, 2; horizontal 1, 0.
    assert total_variation(x).item() == pytest.approx(9 + 4 + 1)
    one = torch.tensor(1.0)
    assert total_cost(2 * one, 3 * one, 5 * one, 10, 100, 0.5).item() == pytest.approx(322.5)
