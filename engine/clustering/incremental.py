"""New faces join an existing clustering without clustering everything again.

Each new face looks up its ``k`` nearest faces among those already clustered; the ones at or
below the threshold vote for their cluster, weighted as Chinese Whispers weighs an edge
(``methods.similarity_weight``), and the face joins the cluster with the most weight (ties: the
smaller label) — one Chinese Whispers update against frozen labels. Faces that joined in one
pass vote in the next, so a new face near only another new face follows it in; the faces no
cluster claims are clustered among themselves with the run's own method and get new labels.
Existing clusters keep their labels and members, so a page's names and edits survive.

Cost: the new faces' neighbour search against the clustered ones, O(new · N) time and
O(block · N + new · k) memory, instead of the whole collection again. Deterministic for the
options' seed. Enrolled people are matched after, as in a batch run (``matching``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.clustering.batch import Progress, cluster_labels
from engine.clustering.errors import ClusteringCancelled
from engine.clustering.matching import PersonMatcher
from engine.clustering.methods import similarity_weight
from engine.clustering.neighbours import nearest
from engine.clustering.results import Clustering, summarise


def vote(
    faces: np.ndarray,
    clustered: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    k: int,
) -> np.ndarray:
    """The cluster label each of ``faces`` joins by its neighbours' weighted votes among
    ``clustered`` (labelled ``labels``), or -1 when none is at or below ``threshold``."""
    found = nearest(faces, clustered, k)
    within = (found.indices >= 0) & (found.distances <= threshold)
    owner = np.nonzero(within)[0]
    if owner.size == 0:
        return np.full(len(faces), -1, dtype=np.int64)
    label = labels[found.indices[within]]
    weight = similarity_weight(found.distances[within].astype(np.float64), threshold)
    span = int(label.max()) + 1
    keys, inverse = np.unique(owner * span + label, return_inverse=True)
    totals = np.bincount(inverse, weights=weight)
    key_owner, key_label = keys // span, keys % span
    order = np.lexsort((key_label, -totals, key_owner))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_owner[order][1:] != key_owner[order][:-1]
    chosen = np.full(len(faces), -1, dtype=np.int64)
    chosen[key_owner[order][first]] = key_label[order][first]
    return chosen


def extend_clustering(
    previous: Clustering,
    clustered: np.ndarray,
    new: np.ndarray,
    new_face_ids: Sequence[str] | None = None,
    *,
    matcher: PersonMatcher | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Clustering:
    """``previous`` (of the faces ``clustered``) with the faces ``new`` added after them.

    Rows 0..N−1 of the result are the clustered faces with their labels unchanged, then the
    new ones. ``progress(done, total)`` counts new faces placed; ``should_stop()`` is asked
    between passes and raises ``ClusteringCancelled`` (``previous`` stays as it was).
    """
    options = previous.options
    old = np.asarray(clustered, np.float32)
    fresh = np.asarray(new, np.float32)
    if len(old) != previous.faces:
        raise ValueError("clustered must hold the embeddings of the previous clustering's faces")
    ids = (
        tuple(new_face_ids)
        if new_face_ids is not None
        else tuple(str(i) for i in range(len(old), len(old) + len(fresh)))
    )
    if len(ids) != len(fresh):
        raise ValueError("new_face_ids must be one per new embedding")
    labels = np.full(len(fresh), -1, dtype=np.int64)
    pending = np.arange(len(fresh))
    voters, voter_labels = old, previous.labels
    while pending.size and len(voters):
        if should_stop is not None and should_stop():
            raise ClusteringCancelled("adding the faces was stopped; nothing was changed")
        chosen = vote(fresh[pending], voters, voter_labels, options.threshold, options.k)
        joined = chosen >= 0
        if not joined.any():
            break
        labels[pending[joined]] = chosen[joined]
        voters, voter_labels = fresh[pending[joined]], chosen[joined]
        pending = pending[~joined]
        if progress is not None:
            progress(len(fresh) - len(pending), len(fresh))
    if pending.size:
        leftover = cluster_labels(fresh[pending], options, should_stop=should_stop)
        start = int(previous.labels.max()) + 1 if previous.faces else 0
        labels[pending] = start + leftover
    if progress is not None:
        progress(len(fresh), len(fresh))
    every = np.concatenate([old, fresh]) if len(old) else fresh
    return summarise(
        np.concatenate([previous.labels, labels]),
        every,
        previous.face_ids + ids,
        options,
        matcher,
    )
