"""The trainable projection head over frozen face embeddings, and its checkpoint files.

The pretrained face ResNet stays frozen; we learn ``g(x) = x + W x + b`` on its 128-d
descriptors. W and b start at zero, so an untrained head reproduces the base embeddings exactly
and training can only move away from a known-good starting point. One module embeds anchor,
positive and negative alike: the Siamese network of the course is this one set of weights
applied three times (Bromley et al. 1993; FaceNet 2015).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engine.errors import ModelFileError, ModelMismatch

BASE_MODEL_ID = "dlib-resnet-v1"  # engine.faces.weights.FACE_RESNET_V1.model_id
CHECKPOINT_FORMAT = "vision-lab-projection-head/1"


class ResidualProjection(nn.Module):
    """Residual linear map ``x ↦ x + W x + b``, initialised to the identity (W = 0, b = 0)."""

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(dim, dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.linear(x)

    def embed(self, embeddings: np.ndarray) -> np.ndarray:
        """Base descriptors (N, dim) → projected descriptors (N, dim) float32, no gradient."""
        param = self.linear.weight
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=param.device)
            return self(x).cpu().numpy()


def embed_triplet(
    model: nn.Module, anchor: Tensor, positive: Tensor, negative: Tensor
) -> tuple[Tensor, ...]:
    """The three Siamese branches: one model, one set of weights, applied to A, P and N.

    Run as one concatenated batch (faster, and plainly the same parameters for all three).
    """
    out = model(torch.cat([anchor, positive, negative]))
    return out.split([len(anchor), len(positive), len(negative)])


def derive_model_id(base_model_id: str, model: nn.Module) -> str:
    """``<base>+head-<hash8>``: a new id per trained weights, so its vectors never mix with the
    base model's (or another head's) in the gallery."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{base_model_id}+head-{digest.hexdigest()[:8]}"


@dataclass(frozen=True)
class TrainedProjection:
    model: ResidualProjection
    metadata: dict[str, Any]

    @property
    def model_id(self) -> str:
        return self.metadata["model_id"]

    @property
    def match_threshold(self) -> float | None:
        """The distance threshold chosen on the training people's pairs, when saved."""
        value = self.metadata.get("threshold")
        return float(value) if isinstance(value, (int, float)) else None

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """Base descriptors (N, D) → this model's descriptors (N, D) float32."""
        return self.model.embed(embeddings)


_UNREADABLE = (OSError, RuntimeError, EOFError, KeyError, TypeError, ValueError, pickle.PickleError)
"""What ``torch.load`` and the metadata parsing raise on a file that is not a head checkpoint."""

_REQUIRED = ("base_model_id", "data", "alpha", "miner", "epochs", "metrics")


def save_checkpoint(
    path: str | Path, model: ResidualProjection, metadata: Mapping[str, Any]
) -> dict:
    """Write the head's state dict and JSON metadata to ``path`` (and ``path``.json beside it).

    ``metadata`` needs base_model_id, data, alpha, miner, epochs, metrics; ``model_id`` (derived
    from the weights) and ``created`` (UTC, ISO 8601) are filled in. Returns the full metadata.
    """
    missing = [key for key in _REQUIRED if key not in metadata]
    if missing:
        raise ValueError(f"checkpoint metadata is missing {missing}")
    meta = dict(metadata)
    meta["model_id"] = derive_model_id(meta["base_model_id"], model)
    meta.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
    meta["dim"] = model.dim
    meta["format"] = CHECKPOINT_FORMAT
    text = json.dumps(meta, indent=2, sort_keys=True)  # fails early on non-JSON values
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "metadata_json": text}, buffer)
    path.write_bytes(buffer.getvalue())
    Path(f"{path}.json").write_text(text + "\n", encoding="utf-8")
    return meta


def load_checkpoint(
    path: str | Path, base_model_id: str | None = BASE_MODEL_ID
) -> TrainedProjection:
    """Read a head saved by ``save_checkpoint``.

    Raises ``ModelMismatch`` when it was trained on another base model than ``base_model_id``
    (pass ``None`` to skip the check), ``ModelFileError`` when the file is not a head checkpoint.
    """
    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        meta = json.loads(blob["metadata_json"])
        state = blob["state_dict"]
        fmt = meta.get("format")
    except _UNREADABLE as exc:
        raise ModelFileError(f"{path} is not a readable projection-head checkpoint: {exc}") from exc
    if fmt != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path}: unknown checkpoint format {fmt!r}")
    if base_model_id is not None and meta.get("base_model_id") != base_model_id:
        raise ModelMismatch(
            f"head {meta.get('model_id')} was trained on {meta.get('base_model_id')}, "
            f"not {base_model_id}"
        )
    model = ResidualProjection(int(meta["dim"]))
    model.load_state_dict(state)
    if derive_model_id(meta["base_model_id"], model) != meta["model_id"]:
        raise ModelFileError(f"{path}: weights do not match the stored model id")
    return TrainedProjection(model.eval(), meta)
