"""Verification metrics on distances: a pair is accepted as "same person" when d ≤ threshold.

ROC and DET points come from scikit-learn's ``roc_curve`` / ``det_curve`` on the score −d; the
rest is the bookkeeping analysts need (EER, TAR at a target FAR with the evidence behind it,
error counts at a threshold, d′, accuracy with a threshold chosen on other data) and open-set
identification (DIR against FPIR, CMC) for searches of a gallery.

Scores where higher means "same" (a learned head's probability) are negated before they reach
these functions: ``engine.evaluation.scoring`` does that in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import det_curve, roc_auc_score, roc_curve

FAR_TARGETS = (1e-1, 1e-2, 1e-3, 1e-4)
"""The false accept rates analysts ask about, from lenient to strict."""


@dataclass(frozen=True)
class RocCurve:
    far: np.ndarray
    """False accept rate (impostor pairs accepted) at each threshold."""
    tar: np.ndarray
    """True accept rate (genuine pairs accepted) at each threshold."""
    thresholds: np.ndarray
    """Distance thresholds, increasing."""


@dataclass(frozen=True)
class DetCurve:
    """Detection error trade-off: both error rates against each other (Martin et al., 1997)."""

    far: np.ndarray
    """False accept rate at each threshold (non-decreasing)."""
    frr: np.ndarray
    """False reject rate at each threshold (non-increasing)."""
    thresholds: np.ndarray
    """Distance thresholds, increasing."""


@dataclass(frozen=True)
class ErrorCounts:
    """What a threshold does to labelled pairs: the four outcomes and the rates built on them."""

    threshold: float
    true_accepts: int
    false_rejects: int
    false_accepts: int
    true_rejects: int

    @property
    def genuine(self) -> int:
        return self.true_accepts + self.false_rejects

    @property
    def impostors(self) -> int:
        return self.false_accepts + self.true_rejects

    @property
    def far(self) -> float:
        """False accept rate: impostor pairs called "same person"."""
        return self.false_accepts / self.impostors if self.impostors else float("nan")

    @property
    def frr(self) -> float:
        """False reject rate: genuine pairs called "different people"."""
        return self.false_rejects / self.genuine if self.genuine else float("nan")

    @property
    def tar(self) -> float:
        """True accept rate, 1 − FRR."""
        return self.true_accepts / self.genuine if self.genuine else float("nan")

    @property
    def accuracy(self) -> float:
        return (self.true_accepts + self.true_rejects) / (self.genuine + self.impostors)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold,
            "far": self.far,
            "frr": self.frr,
            "tar": self.tar,
            "accuracy": self.accuracy,
            "true_accepts": self.true_accepts,
            "false_rejects": self.false_rejects,
            "false_accepts": self.false_accepts,
            "true_rejects": self.true_rejects,
        }


@dataclass(frozen=True)
class TarAtFar:
    target_far: float
    tar: float
    threshold: float
    achieved_far: float
    impostor_pairs: int
    measurable: bool
    """False when there are fewer than 1 / target_far impostor pairs: the FAR cannot be seen."""

    @property
    def impostor_pairs_needed(self) -> int:
        return round(1 / self.target_far)

    def as_dict(self) -> dict[str, float | int | bool]:
        return {
            "target_far": self.target_far,
            "tar": self.tar,
            # "Accept nothing" is an infinite threshold, which JSON cannot hold.
            "threshold": self.threshold if np.isfinite(self.threshold) else None,
            "achieved_far": self.achieved_far,
            "impostor_pairs": self.impostor_pairs,
            "measurable": self.measurable,
        }


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


def det(distances: np.ndarray, same: np.ndarray) -> DetCurve:
    """The DET curve from scikit-learn's ``det_curve``, with distance thresholds increasing."""
    d, s = _arrays(distances, same)
    far, frr, neg_thresholds = det_curve(s, -d)
    # det_curve orders by increasing score −d, i.e. decreasing distance: flip to increasing.
    return DetCurve(far=far[::-1], frr=frr[::-1], thresholds=-neg_thresholds[::-1])


def d_prime(distances: np.ndarray, same: np.ndarray) -> float:
    """Decidability d′ = |μg − μi| / √((σg² + σi²) / 2) (Daugman, "How iris recognition works",
    2004): how many pooled standard deviations apart the genuine and impostor distances lie.
    Written out because the formula is the point; no library we use has it."""
    d, s = _arrays(distances, same)
    genuine, impostor = d[s], d[~s]
    spread = np.sqrt((genuine.var() + impostor.var()) / 2)
    gap = abs(genuine.mean() - impostor.mean())
    if spread == 0:
        return float("inf") if gap > 0 else 0.0
    return float(gap / spread)


def error_counts(distances: np.ndarray, same: np.ndarray, threshold: float) -> ErrorCounts:
    """The four outcomes when pairs at or below ``threshold`` are accepted as the same person."""
    d, s = _arrays(distances, same)
    accepted = d <= threshold
    return ErrorCounts(
        threshold=float(threshold),
        true_accepts=int((accepted & s).sum()),
        false_rejects=int((~accepted & s).sum()),
        false_accepts=int((accepted & ~s).sum()),
        true_rejects=int((~accepted & ~s).sum()),
    )


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


def tar_at_far_table(
    distances: np.ndarray, same: np.ndarray, targets: tuple[float, ...] = FAR_TARGETS
) -> list[TarAtFar]:
    """``tar_at_far`` at each target; each row says whether there were pairs enough to see it."""
    return [tar_at_far(distances, same, target) for target in targets]


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


# --- open-set identification ------------------------------------------------------------------
# A search of a gallery either has the probe's person enrolled (mated) or not (non-mated). At a
# threshold t, a mated search succeeds when its true person ranks first within t; a non-mated
# search fails when anyone comes within t. Definitions of ISO/IEC 19795-1 and NIST's FRVT 1:N
# reports; written out because no library we use has them.


@dataclass(frozen=True)
class OpenSetCurve:
    """DIR (detection and identification rate) against FPIR (false positive identification rate)
    as the threshold sweeps."""

    fpir: np.ndarray
    dir: np.ndarray
    thresholds: np.ndarray
    """Distance thresholds, increasing."""
    mated_searches: int
    non_mated_searches: int


@dataclass(frozen=True)
class DirAtFpir:
    target_fpir: float
    dir: float
    threshold: float
    achieved_fpir: float
    non_mated_searches: int
    measurable: bool
    """False when there are fewer than 1 / target_fpir non-mated searches."""


def _search_arrays(
    mated_distances: np.ndarray, mated_truth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(mated_distances, dtype=np.float64)
    truth = np.asarray(mated_truth, dtype=np.int64)
    if m.ndim != 2 or truth.shape != (m.shape[0],):
        raise ValueError("mated_distances must be (searches, people) and mated_truth (searches,)")
    return m, truth


def true_person_ranks(mated_distances: np.ndarray, mated_truth: np.ndarray) -> np.ndarray:
    """Rank (1 = nearest) of the true person in each mated search; ties go to the true person."""
    m, truth = _search_arrays(mated_distances, mated_truth)
    true_d = m[np.arange(len(truth)), truth]
    return 1 + (m < true_d[:, None]).sum(axis=1)


def cmc(mated_distances: np.ndarray, mated_truth: np.ndarray, max_rank: int = 10) -> np.ndarray:
    """Cumulative match characteristic: entry k−1 is the share of mated searches whose true
    person is among the k nearest people (rank-k identification rate, no threshold)."""
    ranks = true_person_ranks(mated_distances, mated_truth)
    return np.array([(ranks <= k).mean() for k in range(1, max_rank + 1)])


def open_set_curve(
    mated_distances: np.ndarray, mated_truth: np.ndarray, non_mated_nearest: np.ndarray
) -> OpenSetCurve:
    """DIR and FPIR at every threshold where either changes.

    ``mated_distances`` (searches, people): each mated search's distance to every enrolled
    person (their nearest face; ``inf`` for none); ``mated_truth``: the column of the true
    person; ``non_mated_nearest``: each non-mated search's distance to its nearest person.
    """
    m, truth = _search_arrays(mated_distances, mated_truth)
    non_mated = np.asarray(non_mated_nearest, dtype=np.float64)
    if len(truth) == 0 or len(non_mated) == 0:
        raise ValueError("need both mated and non-mated searches")
    ranks = true_person_ranks(m, truth)
    # A mated search counts towards DIR only when its true person is first.
    identified_at = np.where(ranks == 1, m[np.arange(len(truth)), truth], np.inf)
    candidates = np.concatenate([identified_at, non_mated])
    thresholds = np.unique(candidates[np.isfinite(candidates)])
    thresholds = np.concatenate([[-np.inf], thresholds])
    dir_ = np.searchsorted(np.sort(identified_at), thresholds, side="right") / len(truth)
    fpir = np.searchsorted(np.sort(non_mated), thresholds, side="right") / len(non_mated)
    return OpenSetCurve(
        fpir=fpir,
        dir=dir_,
        thresholds=thresholds,
        mated_searches=len(truth),
        non_mated_searches=len(non_mated),
    )


def dir_at_fpir(curve: OpenSetCurve, target_fpir: float) -> DirAtFpir:
    """Highest DIR whose FPIR does not exceed ``target_fpir`` (never extrapolated)."""
    i = int(np.flatnonzero(curve.fpir <= target_fpir)[-1])
    return DirAtFpir(
        target_fpir=target_fpir,
        dir=float(curve.dir[i]),
        threshold=float(curve.thresholds[i]),
        achieved_fpir=float(curve.fpir[i]),
        non_mated_searches=curve.non_mated_searches,
        measurable=curve.non_mated_searches >= round(1 / target_fpir),
    )
