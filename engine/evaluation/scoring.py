"""Scores of labelled pairs and everything measured on them, whichever way a scorer points.

A scorer turns two embeddings into a number. For the plain distance, lower means "same person";
for a learned head's probability, higher does. The metrics in ``engine.evaluation.metrics`` are
written for distances, so this module is the one place that orients scores: a higher-is-same
score s is measured as −s, and every threshold it reports is turned back into the scorer's
own units. The rule stays one rule either way: accept when the score is on the "same" side of
the threshold, the threshold itself included.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from engine.evaluation import metrics
from engine.evaluation.metrics import DetCurve, ErrorCounts, RocCurve, TarAtFar


class Scorer(Protocol):
    """Anything that scores pairs of embeddings: the distance, or a learned verification head."""

    @property
    def name(self) -> str: ...

    @property
    def higher_is_same(self) -> bool: ...

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """One score per row pair of ``a`` and ``b`` (both (pairs, dim))."""
        ...


@dataclass(frozen=True)
class DistanceScorer:
    """Euclidean distance between descriptors, as Verify and Recognize decide by."""

    name: str = "distance"
    higher_is_same: bool = False

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return np.linalg.norm(a64 - b64, axis=-1)


@dataclass(frozen=True)
class PairScores:
    """One score per labelled pair, and which way the scorer points."""

    values: np.ndarray = field(repr=False)
    same: np.ndarray = field(repr=False)
    folds: np.ndarray = field(repr=False)
    scorer: str
    higher_is_same: bool

    @classmethod
    def of(
        cls,
        scorer: Scorer,
        a: np.ndarray,
        b: np.ndarray,
        same: np.ndarray,
        folds: np.ndarray | None = None,
    ) -> PairScores:
        same = np.asarray(same, dtype=bool)
        return cls(
            values=np.asarray(scorer.score(a, b), dtype=np.float64),
            same=same,
            folds=np.zeros(len(same), np.int64) if folds is None else np.asarray(folds),
            scorer=scorer.name,
            higher_is_same=scorer.higher_is_same,
        )

    @property
    def oriented(self) -> np.ndarray:
        """The scores with lower meaning "same", as the metrics expect."""
        return -self.values if self.higher_is_same else self.values

    def to_own_units(self, oriented_threshold: float | np.ndarray) -> float | np.ndarray:
        """A threshold on ``oriented`` back in the scorer's units (and vice versa: it is its own
        inverse)."""
        return -oriented_threshold if self.higher_is_same else oriented_threshold

    def accepted(self, threshold: float) -> np.ndarray:
        """Pairs called "same person" at ``threshold`` (in the scorer's units)."""
        return self.values >= threshold if self.higher_is_same else self.values <= threshold

    def errors_at(self, threshold: float) -> ErrorCounts:
        counts = metrics.error_counts(self.oriented, self.same, self.to_own_units(threshold))
        return replace(counts, threshold=float(threshold))

    def tar_at_far(self, target_far: float) -> TarAtFar:
        row = metrics.tar_at_far(self.oriented, self.same, target_far)
        return replace(row, threshold=float(self.to_own_units(row.threshold)))

    def equal_error_rate(self) -> tuple[float, float]:
        """(EER, threshold in the scorer's units)."""
        eer, threshold = metrics.equal_error_rate(self.oriented, self.same)
        return eer, float(self.to_own_units(threshold))

    def best_threshold(self) -> float:
        """The threshold with the highest accuracy on these pairs."""
        return float(self.to_own_units(metrics.best_threshold(self.oriented, self.same)))

    def accuracy_at(self, threshold: float) -> float:
        return float(np.mean(self.accepted(threshold) == self.same))


@dataclass(frozen=True)
class VerificationReport:
    """What a scorer achieves on a pair set; thresholds are in the scorer's own units."""

    scorer: str
    higher_is_same: bool
    genuine: int
    impostors: int
    roc_auc: float
    eer: float
    eer_threshold: float
    d_prime: float
    roc: RocCurve = field(repr=False)
    det: DetCurve = field(repr=False)
    tar_at_far: list[TarAtFar]
    accuracy: float
    threshold: float
    protocol: str
    """How ``threshold`` was chosen: on other folds, on training pairs, or (optimistically) on
    these pairs themselves."""
    fold_accuracies: list[float] = field(default_factory=list)
    fold_thresholds: list[float] = field(default_factory=list)

    def tar_at(self, target_far: float) -> TarAtFar:
        """The row of ``tar_at_far`` for ``target_far`` (one of the targets it was measured at)."""
        for row in self.tar_at_far:
            if row.target_far == target_far:
                return row
        measured = ", ".join(f"{row.target_far:g}" for row in self.tar_at_far)
        raise ValueError(f"TAR was measured at FAR {measured}, not at {target_far:g}")

    def as_dict(self) -> dict:
        """Everything but the curves, for JSON."""
        return {
            "scorer": self.scorer,
            "higher_is_same": self.higher_is_same,
            "genuine_pairs": self.genuine,
            "impostor_pairs": self.impostors,
            "accuracy": self.accuracy,
            "threshold": self.threshold,
            "protocol": self.protocol,
            "fold_accuracies": self.fold_accuracies,
            "fold_thresholds": self.fold_thresholds,
            "roc_auc": self.roc_auc,
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "d_prime": self.d_prime,
            "tar_at_far": [row.as_dict() for row in self.tar_at_far],
        }

    def curves(self) -> dict[str, list[float]]:
        """ROC and DET points, for JSON or CSV export."""
        return {
            "roc_far": self.roc.far.tolist(),
            "roc_tar": self.roc.tar.tolist(),
            "roc_threshold": _finite(self.roc.thresholds),
            "det_far": self.det.far.tolist(),
            "det_frr": self.det.frr.tolist(),
            "det_threshold": _finite(self.det.thresholds),
        }


def _finite(values: np.ndarray) -> list[float | None]:
    """JSON has no infinity: the ROC's "accept nothing" end becomes null."""
    return [float(v) if np.isfinite(v) else None for v in values]


def evaluate(
    scores: PairScores, train: PairScores | None = None, train_name: str = "the training pairs"
) -> VerificationReport:
    """Every verification figure of ``scores``.

    Accuracy follows the fairest protocol the data allows: with folds, LFW's (each fold scored
    at the threshold chosen on the others); with ``train``, the threshold chosen there; else the
    best threshold of these pairs themselves, which is optimistic and says so.
    """
    d, same = scores.oriented, scores.same
    fold_accuracies: list[float] = []
    fold_thresholds: list[float] = []
    if len(np.unique(scores.folds)) > 1:
        fold_accuracies, oriented_thresholds = metrics.kfold_accuracy(d, same, scores.folds)
        fold_thresholds = [float(scores.to_own_units(t)) for t in oriented_thresholds]
        accuracy = float(np.mean(fold_accuracies))
        threshold = float(np.mean(fold_thresholds))
        protocol = f"{len(fold_accuracies)}-fold: each fold at the threshold of the other folds"
    elif train is not None:
        threshold = train.best_threshold()
        accuracy = scores.accuracy_at(threshold)
        protocol = f"threshold chosen on {train_name}"
    else:
        threshold = scores.best_threshold()
        accuracy = scores.accuracy_at(threshold)
        protocol = "threshold chosen on these pairs themselves (optimistic)"
    roc = metrics.roc(d, same)
    det = metrics.det(d, same)
    eer, eer_threshold = scores.equal_error_rate()
    return VerificationReport(
        scorer=scores.scorer,
        higher_is_same=scores.higher_is_same,
        genuine=int(same.sum()),
        impostors=int((~same).sum()),
        roc_auc=metrics.roc_auc(d, same),
        eer=eer,
        eer_threshold=eer_threshold,
        d_prime=metrics.d_prime(d, same),
        roc=replace(roc, thresholds=scores.to_own_units(roc.thresholds)),
        det=replace(det, thresholds=scores.to_own_units(det.thresholds)),
        tar_at_far=[scores.tar_at_far(target) for target in metrics.FAR_TARGETS],
        accuracy=accuracy,
        threshold=threshold,
        protocol=protocol,
        fold_accuracies=[float(a) for a in fold_accuracies],
        fold_thresholds=fold_thresholds,
    )
