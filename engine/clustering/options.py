"""The options of a clustering run, checked before any work starts, and the threshold a
collection of N faces is clustered at.

The threshold falls as the collection grows, for the reason Recognize's open-set threshold
does (``engine.open_set``): among N faces, a face has N − 1 chances to lie near someone else,
so a fixed threshold merges more strangers the larger the collection. Measured on LFW
(``bench.cluster --compare``), the best threshold at 500–4,000 faces is where a face expects
about ``STRANGERS_NEAR`` other people's faces within it, N·F(t) ≈ 0.2 — the open-set threshold
for a "gallery" of N − 1 faces at FPIR 0.2 — and never looser than dlib's usual 0.5, which is
also the best at a few hundred faces.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.clustering.errors import InvalidClusterOptions
from engine.clustering.methods import DEFAULT_METHOD, get_method
from engine.clustering.neighbours import DEFAULT_K
from engine.errors import ModelMismatch
from engine.open_set import open_set_threshold
from engine.verification import Threshold

DEFAULT_THRESHOLD = 0.5
"""dlib's clustering threshold (its ``face_clustering.py``); the loosest ``collection_threshold``
gives, and the one used for a model with no known impostor distribution."""
STRANGERS_NEAR = 0.2
"""Share of faces that may have another person's face within the threshold (open-set FPIR)."""


def collection_threshold(faces: int, model_id: str) -> Threshold:
    """The threshold to cluster ``faces`` faces of ``model_id`` at (see the module docstring),
    with a sentence saying where it came from."""
    try:
        value = open_set_threshold(model_id, max(1, faces - 1), STRANGERS_NEAR).value
    except ModelMismatch:
        return Threshold(
            DEFAULT_THRESHOLD,
            f"threshold {DEFAULT_THRESHOLD:g}: dlib's, as no impostor distribution is known "
            f"for {model_id}",
        )
    if value >= DEFAULT_THRESHOLD:
        return Threshold(DEFAULT_THRESHOLD, f"threshold {DEFAULT_THRESHOLD:g} for {faces:,} faces")
    return Threshold(
        value,
        f"threshold {value:.2f} for {faces:,} faces: at most {STRANGERS_NEAR:.0%} of faces "
        "with a stranger's face that close",
    )


@dataclass(frozen=True)
class ClusterOptions:
    """How faces are grouped; the defaults are the ones measured best on LFW (README).

    Give the threshold that ``collection_threshold`` returns for the collection's size;
    ``DEFAULT_THRESHOLD`` suits a few hundred faces.
    """

    method: str = DEFAULT_METHOD
    threshold: float = DEFAULT_THRESHOLD
    """Faces at or below this distance are neighbours (dlib-resnet-v1 distances)."""
    k: int = DEFAULT_K
    """Neighbours per face in the k-NN graph."""
    min_size: int = 2
    """Groups smaller than this are listed as singletons, not clusters."""
    seed: int = 0

    def __post_init__(self) -> None:
        get_method(self.method)  # a sentence for an unknown name, before any work
        if not self.threshold > 0:
            raise InvalidClusterOptions(f"the threshold must be above 0, not {self.threshold}")
        if self.k < 1:
            raise InvalidClusterOptions(f"k must be at least 1, not {self.k}")
        if self.min_size < 1:
            raise InvalidClusterOptions(
                f"the smallest cluster size must be at least 1, not {self.min_size}"
            )
