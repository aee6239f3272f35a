"""Trained models in the data folder, and which one Verify / Recognize / Enroll use.

A head trained on the Train page is saved as ``<data>/models/<model_id>.pt`` (+ ``.pt.json``
with its metadata). ``<data>/models/active.json`` names the model the app embeds with; without
it (or when it names nothing loadable) the app uses the pretrained face ResNet. The JSON sidecar
is read without torch, so listing models and reading a model's threshold stay cheap.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ModelFileError, ModelMismatch
from engine.permissions import Action, Actor
from engine.training.head import (
    LoadedHead,
    ProjectionHead,
    derive_model_id,
    load_checkpoint,
    save_checkpoint,
)

MODELS_FOLDER = "models"
ACTIVE_FILE = "active.json"


def models_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / MODELS_FOLDER


def checkpoint_path(data_dir: str | Path, model_id: str) -> Path:
    """Where the model ``model_id`` is saved (ids are ``<base>+head-<hash>``: safe file names)."""
    if not model_id or "/" in model_id or "\\" in model_id or model_id.startswith("."):
        raise ValueError(f"not a model id: {model_id!r}")
    return models_dir(data_dir) / f"{model_id}.pt"


def save_trained_model(
    data_dir: str | Path, model: ProjectionHead, metadata: dict[str, Any], *, actor: Actor
) -> tuple[Path, dict[str, Any]]:
    """Save a trained head where ``list_trained_models`` finds it; (path, full metadata).

    ``metadata`` as for ``save_checkpoint``, plus ``threshold`` (the distance threshold chosen
    on the training people's pairs) so Verify has a sensible default for the new model.
    Saved models are shared (any admin can make one the app's model), so only an admin saves.
    """
    actor.require(Action.SAVE_MODEL)
    path = checkpoint_path(data_dir, derive_model_id(metadata["base_model_id"], model))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, save_checkpoint(path, model, metadata)


@dataclass(frozen=True)
class TrainedModel:
    """A saved model as listed from its metadata sidecar."""

    model_id: str
    path: Path
    metadata: dict[str, Any]

    @property
    def base_model_id(self) -> str:
        return str(self.metadata.get("base_model_id", "?"))

    @property
    def threshold(self) -> float | None:
        value = self.metadata.get("threshold")
        return float(value) if isinstance(value, (int, float)) else None


def read_metadata(data_dir: str | Path, model_id: str) -> dict[str, Any] | None:
    """The sidecar metadata of a saved model, or None when there is no readable sidecar."""
    try:
        sidecar = Path(f"{checkpoint_path(data_dir, model_id)}.json")
        return json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def list_trained_models(
    data_dir: str | Path, base_model_id: str | None = None
) -> list[TrainedModel]:
    """Saved models, newest first; only those trained on ``base_model_id`` when given."""
    folder = models_dir(data_dir)
    if not folder.is_dir():
        return []
    found = []
    for sidecar in folder.glob("*.pt.json"):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            model_id = str(meta["model_id"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged sidecar hides that one model, nothing else
        path = sidecar.with_name(sidecar.name.removesuffix(".json"))
        if not path.is_file():
            continue
        if base_model_id is not None and meta.get("base_model_id") != base_model_id:
            continue
        found.append(TrainedModel(model_id, path, meta))
    return sorted(found, key=lambda m: str(m.metadata.get("created", "")), reverse=True)


def active_model_id(data_dir: str | Path) -> str | None:
    """The model chosen with ``set_active_model``; None for the pretrained base model."""
    path = models_dir(data_dir) / ACTIVE_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("model_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value else None


def set_active_model(
    data_dir: str | Path, model_id: str | None, base_model_id: str, *, actor: Actor
) -> None:
    """Make ``model_id`` the model the app embeds with (None: back to the base model).

    The checkpoint is loaded first, so a model that would fail later is refused now.
    """
    actor.require(Action.USE_MODEL)
    if model_id is not None and model_id != base_model_id:
        load_usable_head(data_dir, model_id, base_model_id)
    folder = models_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = None if model_id == base_model_id else model_id
    partial = folder / f".{ACTIVE_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps({"model_id": chosen}) + "\n", encoding="utf-8")
    partial.replace(folder / ACTIVE_FILE)


def load_usable_head(data_dir: str | Path, model_id: str, base_model_id: str) -> LoadedHead:
    """The saved head ``model_id``, or a ``ModelFileError`` saying why the app cannot use it."""
    path = checkpoint_path(data_dir, model_id)
    if not path.is_file():
        raise ModelFileError(
            f"no saved model {model_id!r} in {path.parent} (`cli.py models` lists them)"
        )
    meta = read_metadata(data_dir, model_id) or {}
    if str(meta.get("format", "")).startswith("vision-lab-resnet-top"):
        raise ModelFileError(
            f"{model_id} is a fine-tuned ResNet: it can be trained and evaluated, but the app "
            "embeds with the pretrained ResNet plus, at most, a projection head"
        )
    return load_checkpoint(path, base_model_id)


@dataclass(frozen=True)
class ActiveHead:
    """What ``load_active_head`` found: the head to use (None: the base model) and, when the
    chosen model could not be used, why."""

    head: LoadedHead | None
    problem: str | None = None


def load_active_head(data_dir: str | Path, base_model_id: str) -> ActiveHead:
    """The active model's head. A missing or damaged checkpoint falls back to the base model
    with the reason, so a page never fails for want of the trained model."""
    model_id = active_model_id(data_dir)
    if model_id is None:
        return ActiveHead(None)
    try:
        return ActiveHead(load_usable_head(data_dir, model_id, base_model_id))
    except (ModelFileError, ModelMismatch, ValueError) as exc:
        return ActiveHead(None, f"the chosen model {model_id} cannot be used ({exc})")
