"""The enrolled gallery, leave-one-out: verification pairs among its faces and each face
searched against the rest."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.gallery import (
    FPIR_TARGETS,
    GalleryFaces,
    gallery_searches,
    open_set_report,
    pairs_from_gallery,
)

MODEL = "dlib-resnet-v1"


def _gallery_faces() -> GalleryFaces:
    rng = np.random.default_rng(0)
    centres = {p: rng.normal(0, 0.12, 128) for p in ("Ann", "Bob", "Cid")}
    people = ("Ann", "Ann", "Ann", "Bob", "Bob", "Cid")
    embeddings = np.stack([centres[p] + rng.normal(0, 0.01, 128) for p in people])
    return GalleryFaces(
        face_ids=tuple(f"face{i}" for i in range(6)),
        people=people,
        embeddings=embeddings.astype(np.float32),
        model_id=MODEL,
    )


def test_gallery_pairs_and_leave_one_out_searches():
    faces = _gallery_faces()
    embedded = pairs_from_gallery(faces, impostors=100)
    assert embedded.pairs.genuine == 3 + 1 and embedded.pairs.impostors == 11
    searches = gallery_searches(faces, block=4)  # blocks smaller than the gallery
    # Mated searches: Ann's 3 faces and Bob's 2 (Cid has one face: nothing left to find).
    assert searches.people == ("Ann", "Bob", "Cid")
    assert searches.mated_truth.tolist() == [0, 0, 0, 1, 1]
    e = faces.embeddings.astype(np.float64)
    # Ann's face 0: nearest other Ann face, and Bob's nearest face.
    assert searches.mated_distances[0, 0] == pytest.approx(
        min(np.linalg.norm(e[0] - e[1]), np.linalg.norm(e[0] - e[2])), rel=1e-6
    )
    assert searches.mated_distances[0, 1] == pytest.approx(
        min(np.linalg.norm(e[0] - e[3]), np.linalg.norm(e[0] - e[4])), rel=1e-6
    )
    # Every true person ranks first (tight clusters), and a non-mated search (its person left
    # out) is farther from anyone than any mated search from its person.
    assert (searches.mated_distances.argmin(axis=1) == searches.mated_truth).all()
    assert len(searches.non_mated_nearest) == 6
    assert searches.non_mated_nearest.min() > searches.mated_distances.min(axis=1).max()


def test_the_open_set_report_of_the_searches():
    report = open_set_report(gallery_searches(_gallery_faces()), max_rank=3)
    # Tight clusters: every mated search finds its person first, so every rank finds it.
    assert report.cmc.tolist() == [1.0, 1.0, 1.0] and report.cmc_at(1) == 1.0
    assert [row.target_fpir for row in report.dir_at_fpir] == list(FPIR_TARGETS)
    # Six non-mated searches measure no FPIR below 1/6; the curve still reaches every DIR.
    assert not any(row.measurable for row in report.dir_at_fpir)
    assert report.curve.mated_searches == 5 and report.curve.dir[-1] == 1.0
