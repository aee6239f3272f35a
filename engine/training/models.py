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
from typing import TYPE_CHECKING, Any, NamedTuple

from torch import nn

from engine.errors import ModelFileError, ModelMismatch
from engine.permissions import Action, Actor
from engine.training.projection import (
    BASE_MODEL_ID,
    TrainedProjection,
    derive_model_id,
    load_checkpoint,
    save_checkpoint,
)

if TYPE_CHECKING:
    from engine.faces.pipeline import FacePipeline

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
    data_dir: str | Path, model: nn.Module, metadata: dict[str, Any], *, actor: Actor
) -> tuple[Path, dict[str, Any]]:
    """Save a trained head, or a fine-tuned ResNet top (``engine.training.finetune``), where
    ``list_trained_models`` finds it; (path, full metadata).

    ``metadata`` as for ``save_checkpoint`` (``TrainingReport.metadata`` gives it), plus
    ``threshold`` (the distance threshold chosen on the training people's pairs) so Verify has a
    sensible default for the new model.
    Saved models are shared (any admin can make one the app's model), so only an admin saves.
    """
    actor.require(Action.SAVE_MODEL)
    from engine.training.finetune import ResNetTop, save_finetuned

    if isinstance(model, ResNetTop):
        return save_finetuned(models_dir(data_dir), model, metadata)
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
        load_usable_projection(data_dir, model_id, base_model_id)
    folder = models_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = None if model_id == base_model_id else model_id
    partial = folder / f".{ACTIVE_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps({"model_id": chosen}) + "\n", encoding="utf-8")
    partial.replace(folder / ACTIVE_FILE)


def load_usable_projection(
    data_dir: str | Path, model_id: str, base_model_id: str
) -> TrainedProjection:
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
class ActiveProjection:
    """What ``load_active_projection`` found: the projection to use (None: the base model) and,
    when the chosen model could not be used, why."""

    projection: TrainedProjection | None
    problem: str | None = None
    base_model_id: str = BASE_MODEL_ID

    @property
    def model_id(self) -> str:
        """The id of the vectors made with it: the projection's, else the base model's."""
        return self.projection.model_id if self.projection is not None else self.base_model_id


def load_active_projection(data_dir: str | Path, base_model_id: str) -> ActiveProjection:
    """The active model's head. A missing or damaged checkpoint falls back to the base model
    with the reason, so a page never fails for want of the trained model."""
    model_id = active_model_id(data_dir)
    if model_id is None:
        return ActiveProjection(None, base_model_id=base_model_id)
    try:
        projection = load_usable_projection(data_dir, model_id, base_model_id)
    except (ModelFileError, ModelMismatch, ValueError) as exc:
        problem = f"the chosen model {model_id} cannot be used ({exc})"
        return ActiveProjection(None, problem, base_model_id)
    return ActiveProjection(projection, base_model_id=base_model_id)


class ModelInUse(NamedTuple):
    pipeline: FacePipeline
    problem: str | None
    """Why the chosen trained model is not in use (a sentence to show as a warning), or None."""


def pipeline_in_use(base: FacePipeline, data_dir: str | Path) -> ModelInUse:
    """The pipeline Enroll, Verify and Recognize embed with, in the app and the CLI alike:
    ``base`` with the active model's projection. When the chosen model cannot be used, ``base``
    itself and why (a sentence to show as a warning); else the problem is None.

    Light callers that need only the id (the CLI's gallery commands) read
    ``load_active_projection(...).model_id`` without loading the face models."""
    active = load_active_projection(data_dir, base.base_model_id)
    if active.projection is None:
        return ModelInUse(base, active.problem)
    return ModelInUse(base.with_projection(active.projection), None)
