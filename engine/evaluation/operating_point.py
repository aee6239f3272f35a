"""The operating point: the distance threshold Verify and Recognize use by default.

Chosen in the threshold lab on the analyst's own pairs — at a target false accept rate, at the
equal error rate, or by hand — and saved as ``<data_dir>/operating_point.json``::

    {"model_id", "threshold", "dataset", "date", "far", "frr", "method"}

This module is its only reader and writer; ``engine.verification.default_threshold`` asks it
for the point (and ignores one saved for another model).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import VisionLabError
from engine.evaluation.scoring import PairScores
from engine.permissions import Action, Actor

OPERATING_POINT_FILE = "operating_point.json"
"""Written by the threshold lab into the data folder."""


class OperatingPointUnreadable(VisionLabError):
    """The saved operating point exists but cannot be read; ``reason`` says how it fails."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{OPERATING_POINT_FILE} unreadable: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class OperatingPoint:
    model_id: str
    threshold: float
    """Distance threshold: at or below it, the same person."""
    dataset: str
    date: str
    far: float
    frr: float
    method: str
    """How it was chosen, e.g. "FAR ≤ 1e-03", "EER", "by hand"."""

    def describe(self) -> str:
        """Where a threshold came from, as Verify and Recognize show it."""
        details = [self.dataset] if self.dataset else []
        for value, label in ((self.far, "FAR"), (self.frr, "FRR")):
            if math.isfinite(value):
                details.append(f"{label} {value:.2%}")
        suffix = f" ({', '.join(details)})" if details else ""
        return f"saved operating point {self.date or 'of unknown date'}{suffix}"


def operating_point(
    scores: PairScores, threshold: float, *, model_id: str, dataset: str, method: str
) -> OperatingPoint:
    """The point at ``threshold`` with the FAR and FRR measured there on ``scores``."""
    if scores.higher_is_same:
        raise ValueError("the saved operating point is a distance threshold: score by distance")
    errors = scores.errors_at(threshold)
    return OperatingPoint(
        model_id=model_id,
        threshold=float(threshold),
        dataset=dataset,
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        far=errors.far,
        frr=errors.frr,
        method=method,
    )


def save_operating_point(data_dir: str | Path, point: OperatingPoint, *, actor: Actor) -> Path:
    """Write the point where ``default_threshold`` looks for it (atomically). It changes what
    Verify and Recognize decide for everyone, so only an admin may."""
    actor.require(Action.SAVE_OPERATING_POINT)
    path = Path(data_dir) / OPERATING_POINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(point), indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_operating_point(data_dir: str | Path) -> OperatingPoint | None:
    """The saved point, or None when none is saved; ``OperatingPointUnreadable`` when the file
    is there but damaged (so the caller can say so)."""
    path = Path(data_dir) / OPERATING_POINT_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return OperatingPoint(
            model_id=str(raw["model_id"]),
            threshold=float(raw["threshold"]),
            dataset=str(raw.get("dataset", "")),
            date=str(raw.get("date", "")),
            far=float(raw.get("far", float("nan"))),
            frr=float(raw.get("frr", float("nan"))),
            method=str(raw.get("method", "")),
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise OperatingPointUnreadable(type(exc).__name__) from exc
