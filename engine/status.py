"""What the engine runs on and with: device, library versions, model cards."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib import metadata

import torch

from engine.device import pick_device
from engine.faces.weights import ALL_FACE_WEIGHTS, ModelWeights

_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "pillow",
    "streamlit",
    "chromadb",
    "face_recognition_models",
)


@dataclass(frozen=True)
class EngineStatus:
    device: str
    device_name: str
    torch_threads: int
    python: str
    versions: dict[str, str]
    models: list[ModelWeights] = field(default_factory=list)


def collect_engine_status(preferred_device: str | None = None) -> EngineStatus:
    device = pick_device(preferred_device)
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or platform.machine()
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return EngineStatus(
        device=str(device),
        device_name=device_name,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        versions=versions,
        models=list(ALL_FACE_WEIGHTS),
    )
