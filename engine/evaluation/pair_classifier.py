"""A learned verification head: same-or-different as binary classification of a pair.

DeepFace (Taigman et al., CVPR 2014, §4.2) and the course the seed follows (Ng, "Face
verification and binary classification") put a logistic regression on per-dimension
differences of the two descriptors instead of thresholding their distance:

    ŷ = σ( Σ_k w_k · x_k + b ),   x_k = |f(a)_k − f(b)_k|                     ("absdiff")
                              or  x_k = (f(a)_k − f(b)_k)² / (f(a)_k + f(b)_k)   ("chi2")

The head learns which dimensions matter. Its output is a probability, higher meaning "same".

χ² is written for non-negative features (histograms, ReLU outputs); dlib's descriptor has
negative components, so its denominator can be zero or negative. We divide by
|f(a)_k + f(b)_k| + ε (``CHI2_EPSILON``): the feature stays non-negative and finite, and
follows the seed's formula where the sum is large against ε.

Fitting uses scikit-learn (standardisation and ``LogisticRegression`` in one ``Pipeline``);
the fitted head is kept as its few numbers (scaler mean and scale, weights, bias) and scores
with the formula above, so a saved head needs no pickle and loads in any library version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.errors import ModelMismatch, VisionLabError
from engine.permissions import Action, Actor

FEATURES = ("absdiff", "chi2")
FEATURE_LABELS = {
    "absdiff": "|f(a) − f(b)|",
    "chi2": "χ²: (f(a) − f(b))² / (f(a) + f(b))",
}
CHI2_EPSILON = 0.1
"""Added to |f(a)_k + f(b)_k|. dlib's descriptor components are about ±0.1 and their sums reach
zero (down to 3e-7 on LFW), where the bare ratio explodes and a few dimensions swamp the
regression. Chosen by 5-fold cross-validation on LFW pairsDevTrain only (never DevTest):
accuracy 96.2 % at ε = 1e-3, 98.1 % at 1e-2, 99.1 % at 0.1 and 0.2."""
DEFAULT_REGULARIZATION = 0.03
"""scikit-learn's C (inverse L2 strength), chosen with ε on the same DevTrain folds: 2,200
pairs for 128 weights want firm regularisation (C = 1 lost 0.3-0.5 points for both features)."""
HEADS_FOLDER = "heads"
DEFAULT_PROBABILITY_THRESHOLD = 0.5


class PairClassifierFileError(VisionLabError):
    """A saved head cannot be read (missing, damaged, or not a head file)."""


def pair_features(a: np.ndarray, b: np.ndarray, feature: str) -> np.ndarray:
    """(pairs, dim) features of descriptor pairs ``a`` and ``b`` (each (pairs, dim))."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a64.shape != b64.shape:
        raise ModelMismatch(f"descriptors of different shapes {a64.shape} and {b64.shape}")
    if feature == "absdiff":
        return np.abs(a64 - b64)
    if feature == "chi2":
        return (a64 - b64) ** 2 / (np.abs(a64 + b64) + CHI2_EPSILON)
    raise ValueError(f"unknown feature {feature!r}: choose one of {', '.join(FEATURES)}")


@dataclass(frozen=True)
class PairClassifier:
    """A fitted logistic regression on pair features, for one embedding model."""

    feature: str
    model_id: str
    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    bias: float
    metadata: dict = field(default_factory=dict)
    """``trained_on``, ``date``, ``n_pairs``, ``metrics``, … as saved."""
    higher_is_same: bool = True

    @property
    def name(self) -> str:
        return f"{self.feature} head"

    @property
    def threshold(self) -> float:
        """The head's decision threshold: a saved one, else 0.5."""
        return float(self.metadata.get("threshold", DEFAULT_PROBABILITY_THRESHOLD))

    @classmethod
    def fit(
        cls,
        a: np.ndarray,
        b: np.ndarray,
        same: np.ndarray,
        *,
        feature: str,
        model_id: str,
        trained_on: str = "",
        regularization: float = DEFAULT_REGULARIZATION,
    ) -> PairClassifier:
        """Fit on labelled pairs of ``model_id`` descriptors (``regularization`` is sklearn's C)."""
        same = np.asarray(same, dtype=bool)
        if same.all() or not same.any():
            raise ValueError("training needs both genuine and impostor pairs")
        x = pair_features(a, b, feature)
        pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=regularization, max_iter=2000)
        )
        pipeline.fit(x, same)
        scaler, regression = pipeline[0], pipeline[-1]
        return cls(
            feature=feature,
            model_id=model_id,
            mean=scaler.mean_.copy(),
            scale=scaler.scale_.copy(),
            weights=regression.coef_[0].copy(),
            bias=float(regression.intercept_[0]),
            metadata={
                "trained_on": trained_on,
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "n_pairs": len(same),
                "genuine_pairs": int(same.sum()),
                "embedding_dim": int(x.shape[1]),
                "regularization": regularization,
            },
        )

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """P(same person) per pair: σ(w · standardised features + b)."""
        x = pair_features(a, b, self.feature)
        if x.shape[-1] != len(self.weights):
            raise ModelMismatch(
                f"this head takes {len(self.weights)}-d descriptors, got {x.shape[-1]}-d"
            )
        logits = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return 1 / (1 + np.exp(-logits))

    def with_metadata(self, **changes: object) -> PairClassifier:
        """The same head with metadata added (metrics measured later, a chosen threshold)."""
        return PairClassifier(
            self.feature,
            self.model_id,
            self.mean,
            self.scale,
            self.weights,
            self.bias,
            {**self.metadata, **changes},
        )

    # --- files -------------------------------------------------------------------------------
    def save(self, data_dir: str | Path, name: str, *, actor: Actor) -> Path:
        """Write ``<data_dir>/heads/<name>.npz``: the numbers, and the metadata as JSON.
        Saved heads are offered to everyone on Verify, so saving one is an admin's action."""
        actor.require(Action.SAVE_MODEL)
        path = pair_classifier_path(data_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            **self.metadata,
            "name": name,
            "feature": self.feature,
            "model_id": self.model_id,
        }
        temporary = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(
            temporary,
            mean=self.mean,
            scale=self.scale,
            weights=self.weights,
            bias=np.array(self.bias),
            metadata=np.array(json.dumps(header)),
        )
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, model_id: str) -> PairClassifier:
        """A saved head; ``ModelMismatch`` when it was trained on another model's descriptors."""
        try:
            with np.load(path, allow_pickle=False) as z:
                metadata = json.loads(str(z["metadata"]))
                head = cls(
                    feature=str(metadata["feature"]),
                    model_id=str(metadata["model_id"]),
                    mean=z["mean"],
                    scale=z["scale"],
                    weights=z["weights"],
                    bias=float(z["bias"]),
                    metadata=metadata,
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PairClassifierFileError(
                f"{Path(path).name} is not a readable head file ({exc})"
            ) from exc
        if head.model_id != model_id:
            raise ModelMismatch(
                f"the head {Path(path).stem!r} was trained on {head.model_id} descriptors, "
                f"not {model_id}"
            )
        return head


def pair_classifier_path(data_dir: str | Path, name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")
    if not slug:
        raise ValueError("a head needs a name with letters or digits")
    return Path(data_dir) / HEADS_FOLDER / f"{slug}.npz"


def saved_pair_classifiers(data_dir: str | Path, model_id: str) -> dict[str, Path]:
    """Saved heads usable with ``model_id`` descriptors, by name (damaged files left out)."""
    folder = Path(data_dir) / HEADS_FOLDER
    heads = {}
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            PairClassifier.load(path, model_id)
        except (PairClassifierFileError, ModelMismatch):
            continue
        heads[path.stem] = path
    return heads


def out_of_fold_scores(
    a: np.ndarray,
    b: np.ndarray,
    same: np.ndarray,
    folds: np.ndarray,
    *,
    feature: str,
    model_id: str,
) -> np.ndarray:
    """Each fold scored by a head fitted on the other folds (LFW View 2's protocol for learned
    methods), so no pair is scored by a head that saw it."""
    folds = np.asarray(folds)
    scores = np.empty(len(folds))
    for fold in np.unique(folds):
        test = folds == fold
        head = PairClassifier.fit(
            a[~test], b[~test], same[~test], feature=feature, model_id=model_id
        )
        scores[test] = head.score(a[test], b[test])
    return scores


@dataclass(frozen=True)
class PairDecision:
    """One verification by a head: the probability, the threshold and where it came from."""

    probability: float
    threshold: float
    same: bool
    head: str
    model_id: str
    threshold_source: str
    reference: int = 0
    """Which of the reference descriptors scored highest (a claimed person's faces)."""

    @property
    def margin(self) -> float:
        """``probability − threshold``: > 0 is how far inside the "same" region."""
        return self.probability - self.threshold


def verify_with_classifier(
    head: PairClassifier,
    probe: np.ndarray,
    references: np.ndarray,
    threshold: float,
    threshold_source: str,
) -> PairDecision:
    """Is ``probe`` the person of ``references`` (one descriptor, or a person's several)? The
    best-scoring reference decides, as the nearest face does for the distance."""
    refs = np.atleast_2d(np.asarray(references, dtype=np.float64))
    if len(refs) == 0:
        raise ValueError("no reference descriptors to compare with")
    probe_rows = np.broadcast_to(np.asarray(probe, dtype=np.float64).ravel(), refs.shape)
    probabilities = head.score(probe_rows, refs)
    best = int(np.argmax(probabilities))
    p = float(probabilities[best])
    return PairDecision(
        probability=p,
        threshold=float(threshold),
        same=p >= threshold,
        head=head.name,
        model_id=head.model_id,
        threshold_source=threshold_source,
        reference=best,
    )
