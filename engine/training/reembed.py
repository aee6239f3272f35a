"""Re-embed the gallery for another model, so Recognize and Verify can use that model.

Vectors of two models live in different spaces: the distance between a base-model vector and a
trained-head vector means nothing, so a gallery enrolled with the base model cannot answer
queries embedded with a trained head. A head is a function of the base descriptor, so each
stored face's new vector is the head applied to its stored base vector — exactly what the
pipeline would compute from the photo — and no photo has to be read again. The faces are
written under the target model's id beside the base ones (the base vectors stay, so switching
back costs nothing); people are shared, and deleting a person removes every model's vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.permissions import Action, Actor
from store import Gallery, NewFace


@dataclass(frozen=True)
class ReembedSummary:
    model_id: str
    faces: int
    """Faces of the source model."""
    written: int
    already: int
    """Faces the target model already had (an earlier, perhaps interrupted, run)."""
    without_chip: int
    """Faces skipped because their stored chip is gone (re-enrol them from a photo)."""
    cancelled: bool = False


def reembed_gallery(
    source: Gallery,
    target: Gallery,
    project: Callable[[np.ndarray], np.ndarray],
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    actor: Actor,
) -> ReembedSummary:
    """Give every face of ``source``'s model a vector of ``target``'s model: ``project`` maps
    (n, D) source vectors to target vectors. Safe to run again: faces already there are kept.
    It is the first half of choosing the model in use, so it needs that permission."""
    actor.require(Action.USE_MODEL)
    if source.model_id == target.model_id:
        raise ValueError(f"the gallery already holds {target.model_id!r} vectors")
    people = source.people()
    total = sum(p.face_count for p in people)
    done = written = already = without_chip = 0
    for person in people:
        faces = source.faces_of(person.id)
        if not faces:
            continue
        vectors = project(source.person_embeddings(person.id))
        for face, vector in zip(faces, vectors, strict=True):
            if should_stop is not None and should_stop():
                return ReembedSummary(
                    target.model_id, total, written, already, without_chip, cancelled=True
                )
            chip = source.chip_rgb(face.id)
            if chip is None:
                without_chip += 1
            else:
                new_face = NewFace(
                    embedding=np.asarray(vector, dtype=np.float32),
                    chip=chip,
                    image_sha256=face.image_sha256,
                    box=face.box,
                    landmarks=np.asarray(face.landmarks, dtype=np.float64),
                    score=face.score,
                    model_id=target.model_id,
                )
                outcome = target.enroll(person.id, new_face, create=False)
                if outcome.status == "enrolled":
                    written += 1
                else:
                    already += 1
            done += 1
            if progress is not None:
                progress(done, total)
    return ReembedSummary(target.model_id, total, written, already, without_chip)
