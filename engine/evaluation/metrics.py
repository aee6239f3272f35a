"""Verification metrics on distances: a pair is accepted as "same person" when d ≤ threshold.

ROC points come from scikit-learn's ``roc_curve`` on the score −d; the rest is the
bookkeeping analysts need (EER, TAR at a target FAR with the evidence behind it, accuracy
with a threshold chosen on other data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True)
class RocCurve:
    far: np.ndarray
    """False accept rate (impostor pairs accepted) at each threshold."""
    tar: np.ndarray
    """True accept rate (genuine pairs accepted) at each threshold."""
    thresholds: np.ndarray
    """Distance thresholds, increasing."""


@dataclass(frozen=True)
class TarAtFar:
    target_far: float
    tar: float
    threshold: float
    achieved_far: float
    impostor_pairs: int
    measurable: bool
    """False when there are fewer than 1 / target_far impostor pairs: the FAR cannot be seen."""


def _arrays(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    if d.shape != s.shape or d.ndim != 1:
        raise ValueError("distances and labels must be 1-D arrays of the same length")
    if not s.any() or s.all():
        raise ValueError("need both genuine and impostor pairs")
    return d, s


def roc(distances: np.ndarray, same: np.ndarray) -> RocCurve:
    d, s = _arrays(distances, same)
    far, tar, neg_thresholds = roc_curve(s, -d, drop_intermediate=False)
    thresholds = -neg_thresholds
    thresholds[0] = -np.inf if not np.isfinite(thresholds[0]) else thresholds[0]
    return RocCurve(far=far, tar=tar, thresholds=thresholds)


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    d, s = _arrays(distances, same)
    return float(roc_auc_score(s, -d))


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    d, s = _arrays(distances, same)
    return float(np.mean((d <= threshold) == s))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy, placed midway between neighbouring distances."""
    d, s = _arrays(distances, same)
    order = np.argsort(d, kind="stable")
    d_sorted, s_sorted = d[order], s[order]
    # Accept the first i pairs (d ≤ d_sorted[i-1]): correct = genuine in + impostors out.
    genuine_accepted = np.concatenate([[0], np.cumsum(s_sorted)])
    impostors_rejected = (~s).sum() - np.concatenate([[0], np.cumsum(~s_sorted)])
    correct = genuine_accepted + impostors_rejected
    # Only cut between distinct values.
    cuts = np.concatenate([[True], d_sorted[1:] > d_sorted[:-1], [True]])
    correct = np.where(cuts, correct, -1)
    i = int(np.argmax(correct))
    if i == 0:
        return float(d_sorted[0] - 1e-6)
    if i == len(d_sorted):
        return float(d_sorted[-1] + 1e-6)
    return float((d_sorted[i - 1] + d_sorted[i]) / 2)


def equal_error_rate(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(EER, threshold) where the false accept and false reject rates cross (interpolated)."""
    curve = roc(distances, same)
    gap = curve.far - (1 - curve.tar)  # non-decreasing as the threshold grows
    i = int(np.searchsorted(gap, 0.0))
    if i == 0:
        return float(curve.far[0]), float(curve.thresholds[0])
    if i == len(gap):
        return float(curve.far[-1]), float(curve.thresholds[-1])
    w = -gap[i - 1] / (gap[i] - gap[i - 1])
    eer = curve.far[i - 1] + w * (curve.far[i] - curve.far[i - 1])
    low, high = curve.thresholds[i - 1], curve.thresholds[i]
    threshold = low + w * (high - low) if np.isfinite(low) else high
    return float(eer), float(threshold)


def tar_at_far(distances: np.ndarray, same: np.ndarray, target_far: float) -> TarAtFar:
    """Highest TAR whose FAR does not exceed ``target_far`` (never extrapolated)."""
    d, s = _arrays(distances, same)
    curve = roc(d, s)
    ok = np.flatnonzero(curve.far <= target_far)
    i = int(ok[-1])
    impostors = int((~s).sum())
    return TarAtFar(
        target_far=target_far,
        tar=float(curve.tar[i]),
        threshold=float(curve.thresholds[i]),
        achieved_far=float(curve.far[i]),
        impostor_pairs=impostors,
        measurable=impostors >= round(1 / target_far),
    )


def kfold_accuracy(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[list[float], list[float]]:
    """LFW protocol: each fold is scored with the threshold chosen on the other folds.

    Returns the per-fold accuracies and thresholds.
    """
    d, s = _arrays(distances, same)
    f = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(f):
        test = f == fold
        threshold = best_threshold(d[~test], s[~test])
        accuracies.append(accuracy_at(d[test], s[test], threshold))
        thresholds.append(threshold)
    return accuracies, thresholds
