"""Content and style cost at a real VGG16 layer: the Gram matrix equals a hand computation."""

from __future__ import annotations

import numpy as np
import torch

from engine.concepts.quiz import sample_photos
from engine.concepts.style_layer import SIDE, layer_costs, square
from ui.widgets import resources


def test_gram_matrix_and_costs_of_a_real_layer():
    network = resources.style_network()  # shared with the page test
    content, style = sample_photos()
    costs = layer_costs(network, content, style, "relu2_1")
    n_c, n_h, n_w = costs.shape
    assert (n_c, n_h, n_w) == (128, SIDE // 2, SIDE // 2)
    x = network.weights.transforms()(square(content))
    with torch.no_grad():
        a = network(x, ["relu2_1"])["relu2_1"][0].numpy()
    by_hand = np.einsum("kij,lij->kl", a.astype(np.float64), a.astype(np.float64))
    np.testing.assert_allclose(costs.gram_content, by_hand, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(costs.gram_content, costs.gram_content.T, rtol=1e-6)
    assert costs.self_content_cost == 0
    assert costs.content_cost > 0 and costs.style_cost > 0
