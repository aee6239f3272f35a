"""Pretrained weights as typed cards, and one registry of them by model id.

In the manner of torchvision's ``Weights`` and ``get_model`` / ``list_models``
(``torchvision/models/_api.py``): a card says where a model's weights come from, under which
licence, how well they are published to perform, and what input the network expects;
``card.transforms()`` is that input convention as a callable, so no caller repeats it. The face
models (``engine.faces.weights``) and the VGGs (``engine.backbones.vgg``) are cards of this one
kind: ``get_weights(model_id)`` finds any of them, ``list_weights()`` names them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Generic, TypeVar

TransformT = TypeVar("TransformT")

# The modules that define cards, imported on the first look-up (as pip imports its commands),
# so a caller of ``get_weights`` need not know where a card lives.
_CARD_MODULES = ("engine.faces.weights", "engine.backbones.vgg")


@dataclass(frozen=True, kw_only=True)
class Weights(Generic[TransformT]):
    """One set of pretrained weights and what a caller needs to use them correctly.

    ``normalize`` is the input convention as a callable (``None`` for a model that takes no
    image tensor, such as the landmark cascade); callers reach it through ``transforms()``.
    """

    model_id: str  # stable key: stored beside results, looked up by ``get_weights``
    name: str
    kind: str  # "embedder", "detector", "landmarks", "backbone"
    source: str
    licence: str
    published_metric: str
    input_convention: str
    normalize: TransformT | None = None

    def transforms(self) -> TransformT:
        """The preprocessing these weights were trained with, as a callable."""
        if self.normalize is None:
            raise TypeError(f"{self.name} takes no image-tensor input; it has no transforms()")
        return self.normalize


_REGISTRY: dict[str, Weights] = {}


def register_weights(*cards: Weights) -> None:
    """Add cards to the registry under their model ids (a card module calls this once)."""
    for card in cards:
        known = _REGISTRY.setdefault(card.model_id, card)
        if known is not card:
            raise ValueError(f"two weights cards share the model id {card.model_id!r}")


def _load_cards() -> dict[str, Weights]:
    for module in _CARD_MODULES:
        importlib.import_module(module)
    return _REGISTRY


def get_weights(model_id: str) -> Weights:
    """The card registered under ``model_id`` (``ValueError`` naming the known ids)."""
    cards = _load_cards()
    if model_id not in cards:
        raise ValueError(f"unknown model {model_id!r}; known: {', '.join(sorted(cards))}")
    return cards[model_id]


def list_weights(kind: str | None = None) -> list[str]:
    """The registered model ids, sorted; only those of ``kind`` when given."""
    return sorted(m for m, card in _load_cards().items() if kind is None or card.kind == kind)
