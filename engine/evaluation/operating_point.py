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
    return _write_atomically(Path(data_dir) / OPERATING_POINT_FILE, asdict(point))


def _write_atomically(path: Path, content: dict) -> Path:
    """Write ``content`` as JSON to ``path`` through a temporary file and a rename, so a reader
    sees the old point or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(content, indent=1), encoding="utf-8")
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


OPEN_SET_POINT_FILE = "open_set_point.json"
"""Recognize's operating point, beside the 1:1 one: a threshold chosen on the gallery's open-set
searches (DIR at a target FPIR), which ``engine.open_set.recognize_threshold`` prefers to the
threshold it would compute from the model's impostor distribution."""


class OpenSetPointUnreadable(OperatingPointUnreadable):
    """The saved open-set point exists but cannot be read."""

    def __init__(self, reason: str) -> None:
        VisionLabError.__init__(self, f"{OPEN_SET_POINT_FILE} unreadable: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class OpenSetPoint:
    model_id: str
    threshold: float
    """Distance threshold: a face whose nearest person is at or below it is named."""
    gallery_size: int
    """People enrolled when it was chosen: FPIR grows with the gallery."""
    target_fpir: float
    dir: float
    """Detection and identification rate measured there."""
    fpir: float
    """False positive identification rate measured there."""
    dataset: str
    date: str

    def describe(self, gallery_size: int | None = None) -> str:
        """Where Recognize's threshold came from; says so when the gallery has grown since."""
        text = (
            f"threshold {self.threshold:.2f}: saved open-set point {self.date or 'of unknown date'}"
            f" (FPIR {self.fpir:.1%}, DIR {self.dir:.1%}, with {self.gallery_size:,} people "
            "enrolled"
        )
        if gallery_size is not None and gallery_size > self.gallery_size:
            text += f"; {gallery_size:,} now, so more strangers may be named"
        return text + ")"


def open_set_point(
    threshold: float,
    *,
    model_id: str,
    gallery_size: int,
    target_fpir: float,
    dir: float,
    fpir: float,
    dataset: str,
) -> OpenSetPoint:
    """An open-set point dated today (the threshold lab's DIR at FPIR row gives the numbers)."""
    return OpenSetPoint(
        model_id=model_id,
        threshold=float(threshold),
        gallery_size=int(gallery_size),
        target_fpir=float(target_fpir),
        dir=float(dir),
        fpir=float(fpir),
        dataset=dataset,
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
    )


def save_open_set_point(data_dir: str | Path, point: OpenSetPoint, *, actor: Actor) -> Path:
    """Write Recognize's point (atomically); like the 1:1 point, only an admin may."""
    actor.require(Action.SAVE_OPERATING_POINT)
    return _write_atomically(Path(data_dir) / OPEN_SET_POINT_FILE, asdict(point))


def read_open_set_point(data_dir: str | Path) -> OpenSetPoint | None:
    """The saved open-set point, or None; ``OpenSetPointUnreadable`` when it is damaged."""
    path = Path(data_dir) / OPEN_SET_POINT_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return OpenSetPoint(
            model_id=str(raw["model_id"]),
            threshold=float(raw["threshold"]),
            gallery_size=int(raw["gallery_size"]),
            target_fpir=float(raw.get("target_fpir", float("nan"))),
            dir=float(raw.get("dir", float("nan"))),
            fpir=float(raw.get("fpir", float("nan"))),
            dataset=str(raw.get("dataset", "")),
            date=str(raw.get("date", "")),
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise OpenSetPointUnreadable(type(exc).__name__) from exc
