"""One evaluation, as the CLI's ``evaluate`` and the threshold lab both run it: embedded pairs
and a scorer in, scores and a report out, a head trained on other pairs when one is asked for.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from engine.evaluation.embedding import EmbeddedPairs
from engine.evaluation.pair_classifier import FEATURES, PairClassifier, out_of_fold_scores
from engine.evaluation.pair_sets import DatasetError
from engine.evaluation.scoring import (
    DistanceScorer,
    PairScores,
    Scorer,
    VerificationReport,
    evaluate,
)

SCORERS = ("distance", *FEATURES)


def pair_scores(scorer: Scorer, embedded: EmbeddedPairs) -> PairScores:
    """Scores of the usable pairs (both images embedded)."""
    a, b = embedded.pair_embeddings()
    keep = embedded.usable
    return PairScores.of(scorer, a, b, embedded.pairs.same[keep], embedded.pairs.folds[keep])


@dataclass(frozen=True)
class Evaluation:
    """A scorer measured on test pairs, and how it got its threshold."""

    report: VerificationReport
    scores: PairScores
    train_scores: PairScores | None
    head: PairClassifier | None
    """The head fitted on the training pairs (None for the distance, or out-of-fold heads)."""


def fit_pair_classifier(feature: str, train: EmbeddedPairs) -> PairClassifier:
    """A head fitted on every usable pair of ``train``."""
    a, b = train.pair_embeddings()
    return PairClassifier.fit(
        a,
        b,
        train.pairs.same[train.usable],
        feature=feature,
        model_id=train.model_id,
        trained_on=train.pairs.name,
    )


def run_evaluation(
    scorer: str | Scorer, test: EmbeddedPairs, train: EmbeddedPairs | None = None
) -> Evaluation:
    """Score ``test`` with ``scorer``: "distance", a head feature ("absdiff", "chi2") to train on
    ``train`` (or, for pairs in folds without ``train``, on the other folds), or a ready scorer
    such as a saved head."""
    if train is not None and train.model_id != test.model_id:
        raise DatasetError("training and test pairs were embedded by different models")
    if not isinstance(scorer, str):
        return _measure(scorer, test, train, head=None)
    if scorer == "distance":
        return _measure(DistanceScorer(), test, train, head=None)
    if scorer not in FEATURES:
        raise ValueError(f"unknown scorer {scorer!r}: choose one of {', '.join(SCORERS)}")
    if train is not None:
        head = fit_pair_classifier(scorer, train)
        return _measure(head, test, train, head=head)
    if not test.pairs.has_folds:
        raise DatasetError(
            f"the {scorer} head needs training pairs (or a pairs file in folds to train on the "
            "other folds)"
        )
    a, b = test.pair_embeddings()
    keep = test.usable
    same, folds = test.pairs.same[keep], test.pairs.folds[keep]
    values = out_of_fold_scores(a, b, same, folds, feature=scorer, model_id=test.model_id)
    scores = PairScores(values, same, folds, f"{scorer} head", higher_is_same=True)
    return Evaluation(evaluate(scores), scores, None, None)


def _measure(
    scorer: Scorer,
    test: EmbeddedPairs,
    train: EmbeddedPairs | None,
    head: PairClassifier | None,
) -> Evaluation:
    scores = pair_scores(scorer, test)
    if len(np.unique(scores.same)) < 2:
        raise DatasetError("the usable pairs need both genuine and impostor pairs")
    train_scores = pair_scores(scorer, train) if train is not None else None
    train_name = train.pairs.name if train is not None else ""
    return Evaluation(evaluate(scores, train_scores, train_name), scores, train_scores, head)


def scores_csv(embedded: EmbeddedPairs, scores: PairScores) -> str:
    """One row per pair: ``name_a,name_b,label,score`` (label 1 = same person; the score is
    empty for a pair whose image had no embedding)."""
    pairs = embedded.pairs
    values = np.full(len(pairs.same), np.nan)
    values[embedded.usable] = scores.values
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name_a", "name_b", "label", "score"])
    for a, b, same, value in zip(pairs.a, pairs.b, pairs.same, values, strict=True):
        score = f"{value:.6f}" if np.isfinite(value) else ""
        writer.writerow([pairs.images[a], pairs.images[b], int(same), score])
    return out.getvalue()


@dataclass(frozen=True)
class PairRow:
    """One scored pair, for lists of the worst errors."""

    pair: int
    """Index into the pair set's pairs."""
    image_a: int
    image_b: int
    same: bool
    score: float


def worst_errors(
    embedded: EmbeddedPairs, scores: PairScores, count: int = 5
) -> tuple[list[PairRow], list[PairRow]]:
    """The impostor pairs that look most alike and the genuine pairs that look least alike,
    worst first: where a threshold will fail first, and often where the labels are wrong."""
    pair_index = np.flatnonzero(embedded.usable)
    looks_same = -scores.oriented  # higher = more alike, whichever way the scorer points
    impostors = pair_index[~scores.same][np.argsort(-looks_same[~scores.same], kind="stable")]
    genuine = pair_index[scores.same][np.argsort(looks_same[scores.same], kind="stable")]
    position = {int(p): i for i, p in enumerate(pair_index)}

    def row(p: int) -> PairRow:
        pairs = embedded.pairs
        value = float(scores.values[position[p]])
        return PairRow(int(p), int(pairs.a[p]), int(pairs.b[p]), bool(pairs.same[p]), value)

    return [row(p) for p in impostors[:count]], [row(p) for p in genuine[:count]]


@dataclass(frozen=True)
class IdentityErrors:
    person: str
    genuine_pairs: int
    false_rejects: int
    impostor_pairs: int
    false_accepts: int
    """Impostor pairs with this person on either side that were accepted."""


def errors_by_identity(
    embedded: EmbeddedPairs, scores: PairScores, threshold: float
) -> list[IdentityErrors]:
    """Each person's errors at ``threshold``, most errors first: a few people often account
    for most mistakes (look-alikes, a mislabelled folder, poor photos)."""
    pairs = embedded.pairs
    keep = embedded.usable
    people, person_of = np.unique(np.asarray(pairs.identities), return_inverse=True)
    person_a, person_b = person_of[pairs.a[keep]], person_of[pairs.b[keep]]
    accepted, same = scores.accepted(threshold), scores.same

    def per_person(mask: np.ndarray) -> np.ndarray:
        # A genuine pair counts once for its person; an impostor pair once for each side.
        counts = np.bincount(person_a[mask], minlength=len(people))
        other = mask & (person_b != person_a)
        return counts + np.bincount(person_b[other], minlength=len(people))

    genuine, false_rejects = per_person(same), per_person(same & ~accepted)
    impostor, false_accepts = per_person(~same), per_person(~same & accepted)
    rows = [
        IdentityErrors(
            person=str(person),
            genuine_pairs=int(genuine[i]),
            false_rejects=int(false_rejects[i]),
            impostor_pairs=int(impostor[i]),
            false_accepts=int(false_accepts[i]),
        )
        for i, person in enumerate(people)
    ]
    rows.sort(key=lambda r: (-(r.false_rejects + r.false_accepts), r.person))
    return rows
