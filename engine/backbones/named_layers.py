"""Running a stack of named layers and keeping the outputs of some of them."""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn


def named_activations(
    names: Iterable[str], modules: Iterable[nn.Module], x: Tensor, wanted: set[str]
) -> dict[str, Tensor]:
    """Run ``x`` through ``modules`` in order; the outputs of the ``wanted`` names. Stops after
    the last wanted layer, so deeper layers are never computed."""
    out: dict[str, Tensor] = {}
    for name, module in zip(names, modules, strict=True):
        x = module(x)
        if name in wanted:
            out[name] = x
            if len(out) == len(wanted):
                break
    return out
