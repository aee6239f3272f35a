"""VGG16 receptive fields, as the course quotes them for question 6."""

from __future__ import annotations

from torchvision.models.vgg import cfgs, make_layers

from engine.backbones.vgg import layer_names
from engine.concepts.receptive_fields import vgg16_receptive_fields
from engine.neurons.backbones import span_of
from engine.neurons.receptive_field import ReceptiveField, chain


def test_vgg16_fields_grow_from_3_to_196_pixels():
    fields = vgg16_receptive_fields()
    assert len(fields) == 13
    sizes = {name: field.size for name, field in fields.items()}
    # each 3×3 conv adds 2 × (product of the strides before it); each 2×2/2 pool doubles them
    assert sizes["conv1_1"] == 3 and sizes["conv1_2"] == 5
    assert sizes["conv2_1"] == 10 and sizes["conv3_1"] == 24
    assert sizes["conv4_3"] == 92 and sizes["conv5_3"] == 196
    assert fields["conv4_1"].stride == 8


def test_fields_match_torchvisions_vgg16_layers():
    layers = list(make_layers(cfgs["D"]))
    names = layer_names("vgg16")
    for name, field in vgg16_receptive_fields().items():
        upto = layers[: names.index(name) + 1]
        assert field == ReceptiveField.of(chain(*(span_of(m) for m in upto))), name
