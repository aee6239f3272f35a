"""How well a clustering matches the true identities: BCubed and pairwise scores.

BCubed (Bagga & Baldwin 1998; Amigó, Gonzalo, Artiles & Verdejo, "A comparison of extrinsic
clustering evaluation metrics based on formal constraints", Information Retrieval 12, 2009),
per face i with predicted cluster C(i) and true person L(i):

    precision(i) = |C(i) ∩ L(i)| / |C(i)|      recall(i) = |C(i) ∩ L(i)| / |L(i)|

averaged over faces; F is the harmonic mean of the two averages. Pairwise: over the pairs of
faces put in one cluster (precision) and the pairs of one person (recall); the standard
measures of face clustering papers (Otto, Wang & Jain 2018). When no two faces are put
together, pairwise precision is 1 (nothing claimed, nothing wrong); when no person has two
faces, pairwise recall is 1.

Both come from the contingency table n_cp = faces of person p in cluster c (sparse, so 13,000
faces cost nothing): |C(i) ∩ L(i)| is n_cp for i's cell, and a cell holds n_cp(n_cp − 1)/2
same-cluster same-person pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class ClusterScores:
    """BCubed and pairwise precision / recall / F of predicted labels against true ones."""

    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    clusters: int
    """Predicted clusters, singletons included."""
    clusters_of_two_or_more: int
    people: int
    """True identities."""
    faces: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _codes(labels: Sequence | np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(labels), return_inverse=True)[1].ravel()


def _harmonic(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def cluster_scores(predicted: Sequence | np.ndarray, truth: Sequence | np.ndarray) -> ClusterScores:
    """Scores of ``predicted`` cluster labels against ``truth`` identity labels (any hashable
    values, one per face, same order)."""
    if len(predicted) != len(truth):
        raise ValueError("predicted and true labels must be one per face")
    n = len(predicted)
    if n == 0:
        return ClusterScores(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0, 0, 0, 0)
    c, p = _codes(predicted), _codes(truth)
    table = sparse.coo_matrix((np.ones(n), (c, p))).tocsr()
    table.sum_duplicates()
    cluster_size = np.asarray(table.sum(axis=1)).ravel()
    person_size = np.asarray(table.sum(axis=0)).ravel()
    cell = np.asarray(table[c, p]).ravel()  # |C(i) ∩ L(i)| per face
    bp = float(np.mean(cell / cluster_size[c]))
    br = float(np.mean(cell / person_size[p]))

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) / 2).sum())

    together, same_person = pairs(cluster_size), pairs(person_size)
    both = pairs(table.data)
    pp = both / together if together else 1.0
    pr = both / same_person if same_person else 1.0
    return ClusterScores(
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f=_harmonic(bp, br),
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f=_harmonic(pp, pr),
        clusters=len(cluster_size),
        clusters_of_two_or_more=int((cluster_size >= 2).sum()),
        people=len(person_size),
        faces=n,
    )
