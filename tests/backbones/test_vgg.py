"""VGG16 offline weights: conversion, layer naming, truncation, input convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.data import astronaut

from engine.backbones.vgg import VGG16_CAFFE, VGG19_TORCHVISION, VGGFeatures, layer_names
from engine.weights import get_weights, list_weights


@pytest.fixture(scope="module")
def vgg16() -> VGGFeatures:
    return VGGFeatures.load("vgg16")


def test_layer_names_follow_torchvision_order() -> None:
    names = layer_names("vgg16")
    assert len(names) == 31
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-1] == "pool5" and names.index("relu4_2") == 20
    assert len(layer_names("vgg19")) == 37


def test_weights_are_the_published_imagenet_vgg16(vgg16: VGGFeatures) -> None:
    # conv1_1's first biases in the Oxford / Keras VGG16 release.
    bias = vgg16.features[0].bias[:3].numpy()
    np.testing.assert_allclose(bias, [0.73429835, 0.09340367, 0.06775674], atol=1e-6)
    assert not any(p.requires_grad for p in vgg16.parameters())


def test_truncated_network_matches_full_one(vgg16: VGGFeatures) -> None:
    short = VGGFeatures.load("vgg16", last_layer="relu2_1")
    assert len(short.features) == layer_names("vgg16").index("relu2_1") + 1
    x = VGG16_CAFFE.transforms()(astronaut()[::8, ::8])
    full = vgg16(x, ["relu1_1", "relu2_1"])
    cut = short(x, ["relu1_1", "relu2_1"])
    for name in full:
        torch.testing.assert_close(full[name], cut[name])
    with pytest.raises(ValueError, match="beyond"):
        short(x, ["relu3_1"])
    with pytest.raises(ValueError, match="no layer"):
        vgg16(x, ["relu9_9"])


def test_caffe_convention_is_bgr_minus_mean_and_invertible() -> None:
    pixel = np.array([[[10, 20, 30]]], dtype=np.uint8)
    x = VGG16_CAFFE.transforms()(pixel)
    np.testing.assert_allclose(
        x.flatten().numpy(), [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6
    )
    image = astronaut()[:17, :23]
    assert (VGG16_CAFFE.transforms().inverse(VGG16_CAFFE.transforms()(image)) == image).all()
    gray = VGG16_CAFFE.transforms()(image[:, :, 0])
    assert gray.shape == (1, 3, 17, 23)


def test_a_conv_output_is_not_overwritten_by_the_relu_after_it(vgg16: VGGFeatures) -> None:
    x = VGG16_CAFFE.transforms()(astronaut()[::8, ::8])
    alone = vgg16(x, ["conv1_1"])["conv1_1"]
    with_deeper = vgg16(x, ["conv1_1", "relu1_2"])["conv1_1"]
    assert alone.min() < 0
    torch.testing.assert_close(alone, with_deeper)


def test_vgg_cards_are_in_the_weights_registry() -> None:
    assert get_weights("vgg16") is VGG16_CAFFE and get_weights("vgg19") is VGG19_TORCHVISION
    assert list_weights("backbone") == ["vgg16", "vgg19"]
    assert VGG16_CAFFE.transforms().bgr and not VGG19_TORCHVISION.transforms().bgr
