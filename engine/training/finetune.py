"""Fine-tuning the face ResNet's last level(s) and its fc layer with triplet loss (option b).

The levels below stay frozen, so their output — the *trunk features* of each chip — is computed
once and kept; training then runs only the top of the network, a few percent of the forward
pass (level 0 and the fc layer hold 1.2 M of the 5.6 M parameters but see 256×4×4 inputs).
dlib's affine layers stay separate scale/shift parameters and frozen: they hold the trained
batch-norm statistics, and a train-mode batch norm would change the function under us.
Convolutions and the fc layer learn. Before any step the top reproduces the pretrained network
exactly, so epoch 0 of the held-out check (``TrainingOptions.held_out``) is the base model.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import ModelFileError
from engine.faces.resnet import Affine, FaceResNet, load_face_resnet
from engine.faces.weights import FACE_RESNET_V1

FINETUNE_FORMAT = "vision-lab-resnet-top/1"
_LEVELS = ("level4", "level3", "level2", "level1", "level0")


class ResNetTop(nn.Module):
    """The last ``levels`` residual levels of a ``FaceResNet``, its average pool and fc."""

    def __init__(self, resnet: FaceResNet, levels: int = 1) -> None:
        super().__init__()
        if not 1 <= levels <= 2:
            raise ValueError(f"fine-tune 1 or 2 levels, got {levels}")
        if resnet.is_folded:
            raise ValueError("fine-tune the unfolded network: its affine layers stay frozen")
        self.level_count = levels
        self.levels = nn.Sequential(
            *(copy.deepcopy(getattr(resnet, name)) for name in _LEVELS[-levels:])
        )
        self.fc = copy.deepcopy(resnet.fc)
        for module in self.modules():
            if isinstance(module, Affine):
                module.requires_grad_(False)
        self._lock = threading.Lock()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.levels(features).mean(dim=(2, 3)))

    def embed(self, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Trunk features (N, C, H, W) → descriptors (N, 128) float32, no gradient."""
        device = self.fc.weight.device
        out = []
        with self._lock, torch.no_grad():
            for start in range(0, len(features), batch_size):
                x = torch.as_tensor(features[start : start + batch_size], device=device).float()
                out.append(self(x).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.fc.out_features), np.float32)


class FaceTrunk:
    """The frozen bottom of the face ResNet: chips → the input of ``ResNetTop``."""

    def __init__(self, resnet: FaceResNet, levels: int, device: torch.device | str = "cpu"):
        stages = [resnet.stem, resnet.stem_pool, nn.ReLU()]
        stages += [getattr(resnet, name) for name in _LEVELS[:-levels]]
        self.net = nn.Sequential(*copy.deepcopy(stages)).to(device).eval().requires_grad_(False)
        self.device = device

    def features(
        self,
        chips: np.ndarray,
        *,
        mirror: bool = False,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """(N, C, H, W) float32 features of uint8 chips (N, 150, 150, 3); with ``mirror``,
        (N, 2, C, H, W): each chip and its horizontal flip (the embedder's test-time views)."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(chips), batch_size):
                if should_stop is not None and should_stop():
                    raise InterruptedError(f"stopped after {start:,} of {len(chips):,} chips")
                x = FACE_RESNET_V1.preprocess(chips[start : start + batch_size], self.device)
                x = x.contiguous()
                if mirror:
                    both = self.net(torch.cat([x, x.flip(-1)]))
                    n = len(x)
                    out.append(torch.stack([both[:n], both[n:]], dim=1).cpu().numpy())
                else:
                    out.append(self.net(x).cpu().numpy())
                if progress is not None:
                    progress(min(start + batch_size, len(chips)), len(chips))
        return np.concatenate(out)


def load_trunk_and_top(
    levels: int = 1, device: torch.device | str = "cpu"
) -> tuple[FaceTrunk, ResNetTop]:
    """The pretrained face ResNet split for fine-tuning its last ``levels`` levels."""
    resnet = load_face_resnet(FACE_RESNET_V1.path())
    return FaceTrunk(resnet, levels, device), ResNetTop(resnet, levels).to(device)


def embed_views(top: ResNetTop, features: np.ndarray) -> np.ndarray:
    """Descriptors of (N, V, C, H, W) features: the mean over the V views (mirror TTA)."""
    n, views = features.shape[:2]
    flat = top.embed(features.reshape(n * views, *features.shape[2:]))
    return flat.reshape(n, views, -1).mean(axis=1)


def derive_finetune_id(base_model_id: str, top: ResNetTop) -> str:
    """``<base>+ft<levels>-<hash8>``: its own id, so its vectors never mix with others'."""
    digest = hashlib.sha256()
    for name, tensor in sorted(top.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{base_model_id}+ft{top.level_count}-{digest.hexdigest()[:8]}"


def save_finetuned(
    folder: str | Path, top: ResNetTop, metadata: dict[str, Any]
) -> tuple[Path, dict]:
    """Write the top's weights and metadata to ``<folder>/<model id>.pt`` (+ ``.pt.json``)."""
    meta = dict(metadata)
    meta.update(
        model_id=derive_finetune_id(meta["base_model_id"], top),
        levels=top.level_count,
        format=FINETUNE_FORMAT,
        kind="fine-tuned ResNet top",
    )
    meta.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
    text = json.dumps(meta, indent=2, sort_keys=True)
    path = Path(folder) / f"{meta['model_id']}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in top.state_dict().items()}
    torch.save({"state_dict": state, "metadata_json": text}, buffer)
    path.write_bytes(buffer.getvalue())
    Path(f"{path}.json").write_text(text + "\n", encoding="utf-8")
    return path, meta


def load_finetuned(path: str | Path, device: torch.device | str = "cpu") -> tuple[ResNetTop, dict]:
    """Read a top saved by ``save_finetuned`` (``ModelFileError`` when it is not one)."""
    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        meta = json.loads(blob["metadata_json"])
        levels = int(meta["levels"])
    except Exception as exc:  # torch.load raises many types on a foreign file
        raise ModelFileError(f"{path} is not a readable fine-tuned model: {exc}") from exc
    if meta.get("format") != FINETUNE_FORMAT:
        raise ModelFileError(f"{path}: unknown format {meta.get('format')!r}")
    top = ResNetTop(load_face_resnet(FACE_RESNET_V1.path()), levels)
    top.load_state_dict(blob["state_dict"])
    if derive_finetune_id(meta["base_model_id"], top) != meta["model_id"]:
        raise ModelFileError(f"{path}: weights do not match the stored model id")
    return top.to(device).eval(), meta
