"""Which number format the style optimiser runs VGG in.

Each step runs VGG forward and backward on G; those convolutions are nearly all of a step's
time. In bfloat16 with channels-last tensors they run on the CPU's AMX / AVX512-BF16 units or on
a GPU's tensor cores: measured here (2-core Xeon with AMX, 512 px, VGG16 to relu5_1) 0.65 s a
step against 1.87 s in float32, with a gradient whose cosine to the float32 one is 0.996. The
targets (C's activations, S's Gram matrices) and the costs stay in float32, so only G's
activations carry bfloat16 rounding. Where no such hardware exists bfloat16 is emulated and
slower, so "auto" keeps float32 there.
"""

from __future__ import annotations

import copy

import torch

from engine.backbones.vgg import VGGFeatures
from engine.style.options import Precision


def native_bfloat16(device: torch.device) -> bool:
    """True when ``device`` computes bfloat16 convolutions in hardware (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    # Private helpers of torch.cpu (present since torch 2.1); absent ones mean "not known".
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def compute_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """The dtype G's forward and backward pass run in."""
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    return torch.bfloat16 if native_bfloat16(device) else torch.float32


def compute_network(network: VGGFeatures, dtype: torch.dtype) -> VGGFeatures:
    """``network`` in ``dtype`` and channels-last layout (a copy: the cached network, shared
    with other runs, keeps float32). float32 returns ``network`` itself."""
    if dtype == torch.float32:
        return network
    return copy.deepcopy(network).to(dtype=dtype, memory_format=torch.channels_last)


def network_input(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """G's float32 pixels as the compute network takes them (a differentiable cast)."""
    if dtype == torch.float32:
        return x
    return x.to(dtype=dtype, memory_format=torch.channels_last)
