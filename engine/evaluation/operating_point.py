"""The operating points: the distance thresholds Verify (1:1) and Recognize (open-set) start from.

The 1:1 point is chosen in the threshold lab on the analyst's own pairs — at a target false
accept rate, at the equal error rate, or by hand — and saved in
``<data_dir>/operating_point.json``::

    {"model_id", "threshold", "dataset", "date", "far", "frr", "method"}

The open-set point is chosen there too, at a target FPIR on the enrolled gallery
(``OpenSetPoint``), and saved beside it. This module is their only reader and writer;
``engine.verification.default_threshold`` and ``engine.open_set.recognize_threshold`` ask it for
the points (and ignore one saved for another model).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import VisionLabError
from engine.evaluation.metrics import DirAtFpir
from engine.evaluation.scoring import PairScores
from engine.open_set import DEFAULT_TARGET_FPIR
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
        people = "person" if self.gallery_size == 1 else "people"
        text = (
            f"threshold {self.threshold:.2f}: saved open-set point {self.date or 'of unknown date'}"
            f" (FPIR {self.fpir:.1%}, DIR {self.dir:.1%}, with {self.gallery_size:,} {people} "
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


OPEN_SET_FPIR_CHOICES = (1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3)
"""Target FPIRs the threshold lab offers for Recognize's point, from lenient to strict."""


def default_open_set_fpir(non_mated_searches: int) -> float:
    """The target to offer first: Recognize's own default (1 %) when the searches can measure
    it, else the strictest choice they can (a gallery of 30 faces measures 1e-1 and 5e-2), else
    the most lenient one (and the lab says why it cannot be saved)."""
    measurable = [f for f in OPEN_SET_FPIR_CHOICES if non_mated_searches >= round(1 / f)]
    if DEFAULT_TARGET_FPIR in measurable:
        return DEFAULT_TARGET_FPIR
    return measurable[-1] if measurable else OPEN_SET_FPIR_CHOICES[0]


def open_set_point_problem(row: DirAtFpir) -> str | None:
    """Why the threshold at ``row`` (``metrics.dir_at_fpir`` on the gallery's searches) cannot
    become Recognize's, as a sentence; None when it can. A rate the searches cannot measure is
    refused, as the 1:1 point refuses an unmeasurable FAR: one stranger more or less would
    move it past the target."""
    if not row.measurable:
        return (
            f"An FPIR of {row.target_fpir:.0e} is not measurable on this gallery: it needs at "
            f"least {round(1 / row.target_fpir):,} non-mated searches (enrolled faces) and "
            f"there are {row.non_mated_searches:,}."
        )
    if not (math.isfinite(row.threshold) and row.threshold > 0):
        return (
            f"No threshold above 0 keeps the FPIR at or below {row.target_fpir:.0e} on this "
            "gallery: some strangers lie as close to an enrolled person as any face can."
        )
    return None


def open_set_point_at(
    row: DirAtFpir, *, model_id: str, gallery_size: int, dataset: str
) -> OpenSetPoint:
    """Recognize's point at ``row``: its threshold, with the DIR and FPIR measured there;
    ``ValueError`` (``open_set_point_problem``'s sentence) when it cannot be one."""
    problem = open_set_point_problem(row)
    if problem is not None:
        raise ValueError(problem)
    return open_set_point(
        row.threshold,
        model_id=model_id,
        gallery_size=gallery_size,
        target_fpir=row.target_fpir,
        dir=row.dir,
        fpir=row.achieved_fpir,
        dataset=dataset,
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
