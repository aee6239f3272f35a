"""Pair sets (pairs file, folder, gallery leave-one-out), their cached embedding, scoring in
either direction, and the saved operating point."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import Settings
from engine.evaluation.datasets import (
    CENTRED_BOX,
    FACE_FOUND,
    NO_FACE,
    UNREADABLE,
    DatasetError,
    EmbeddedPairs,
    EmbeddingCancelled,
    GalleryFaces,
    PairSet,
    embed_pair_set,
    gallery_searches,
    pairs_from_file,
    pairs_from_folder,
    pairs_from_gallery,
    sample_impostor_pairs,
)
from engine.evaluation.operating_point import (
    operating_point,
    read_operating_point,
    save_operating_point,
)
from engine.evaluation.protocol import (
    errors_by_identity,
    pair_scores,
    run_evaluation,
    worst_errors,
)
from engine.evaluation.scoring import DistanceScorer, PairScores, evaluate
from engine.faces.pipeline import FacePipeline
from engine.permissions import OPERATOR
from engine.verification import default_threshold

MODEL = "dlib-resnet-v1"


def _touch_folder(root, layout: dict[str, int]) -> None:
    for person, count in layout.items():
        (root / person).mkdir(parents=True)
        for i in range(count):
            (root / person / f"{person}_{i:04d}.jpg").write_bytes(b"")


def test_folder_pairs_are_every_genuine_pair_and_a_seeded_impostor_sample(tmp_path):
    _touch_folder(tmp_path, {"Ann": 3, "Bob": 2, "Cid": 1})
    (tmp_path / "notes.txt").write_text("not in a person folder")
    pairs = pairs_from_folder(tmp_path, impostors=5, seed=7)
    assert len(pairs.images) == 6 and pairs.genuine == 3 + 1 and pairs.impostors == 5
    ids = np.array(pairs.identities)
    assert (ids[pairs.a] == ids[pairs.b]).tolist() == pairs.same.tolist()
    impostor_pairs = {(a, b) for a, b, s in zip(pairs.a, pairs.b, pairs.same, strict=True) if not s}
    assert len(impostor_pairs) == 5  # no repeats
    again = pairs_from_folder(tmp_path, impostors=5, seed=7)
    assert np.array_equal(again.a, pairs.a) and np.array_equal(again.b, pairs.b)
    assert "5 of 11 impostor pairs sampled with seed 7" in pairs.note
    everything = pairs_from_folder(tmp_path, impostors=100)
    assert everything.impostors == 11 and "all 11 impostor pairs" in everything.note


def test_impostor_sampling_of_a_large_set_draws_distinct_cross_person_pairs():
    person_of = np.repeat(np.arange(500), 2)  # 1,000 images: 498,500 impostor pairs
    a, b, available = sample_impostor_pairs(person_of, 3000, seed=1)
    assert available == (1000 * 1000 - 500 * 4) // 2
    assert len(a) == 3000 and len(set(zip(a, b, strict=True))) == 3000
    assert (a < b).all() and (person_of[a] != person_of[b]).all()


def test_folder_and_file_problems_are_plain_errors(tmp_path):
    _touch_folder(tmp_path / "one", {"Ann": 3})
    with pytest.raises(DatasetError, match="one person only"):
        pairs_from_folder(tmp_path / "one")
    with pytest.raises(DatasetError, match="no images"):
        pairs_from_folder(tmp_path / "one" / "Ann")
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("1\nAnn 1 2\nAnn 1 Bob 1\n")
    with pytest.raises(DatasetError, match=r"1 of 3 images of pairs\.txt are missing"):
        pairs_from_file(pairs_file, tmp_path / "one")


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    settings = Settings.from_env()
    return FacePipeline.load(device="cpu").with_options(augment=settings.augment)


@pytest.fixture
def lfw_like(tmp_path, astronaut, grace_hopper):
    """An LFW-format root: Eileen twice (one mirrored), Grace, a photo with no face, a file
    that is no image."""
    from skimage import data

    root = tmp_path / "lfw"
    images = {
        "Eileen/Eileen_0001.jpg": astronaut,
        "Eileen/Eileen_0002.jpg": astronaut[:, ::-1],
        "Grace/Grace_0001.jpg": grace_hopper,
        "Coffee/Coffee_0001.jpg": data.coffee(),
    }
    for rel, pixels in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(root / rel, quality=95)
    (root / "Broken").mkdir()
    (root / "Broken" / "Broken_0001.jpg").write_bytes(b"not a jpeg")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "2\nEileen 1 2\nBroken 1 1\nEileen 1 Grace 1\nGrace 1 Coffee 1\n"  # 2 matched, 2 mismatched
    )
    return pairs, root


def test_embedding_a_pair_set_caches_and_cancels(pipeline, lfw_like, tmp_path, monkeypatch):
    pairs_file, root = lfw_like
    pairs = pairs_from_file(pairs_file, root)
    assert pairs.centred_fallback  # LFW's protocol scores every readable pair
    cache = tmp_path / "cache"
    with pytest.raises(EmbeddingCancelled, match="stopped after 0 of 5 images"):
        embed_pair_set(pipeline, pairs, cache, should_stop=lambda: True)
    seen: list[tuple[int, int]] = []
    embedded = embed_pair_set(pipeline, pairs, cache, progress=lambda *p: seen.append(p))
    assert seen[-1] == (5, 5)
    status = dict(zip(pairs.images, embedded.status, strict=True))
    assert status["Eileen/Eileen_0001.jpg"] == FACE_FOUND
    assert status["Coffee/Coffee_0001.jpg"] == CENTRED_BOX
    assert status["Broken/Broken_0001.jpg"] == UNREADABLE
    # Only the pair with the unreadable image is dropped.
    assert embedded.dropped_pairs == 1 and embedded.usable.tolist() == [True, False, True, True]
    a, b = embedded.pair_embeddings()
    distances = DistanceScorer().score(a, b)
    assert distances[0] < 0.3 < 0.6 < distances[1]  # Eileen vs her mirror; Eileen vs Grace

    # A second run reads everything from the cache: the detector is never called.
    def no_detection(*args, **kwargs):
        raise AssertionError("embedded again despite the cache")

    monkeypatch.setattr(pipeline, "analyze_many", no_detection)
    again = embed_pair_set(pipeline, pairs, cache)
    np.testing.assert_array_equal(again.embeddings, embedded.embeddings)
    # A changed file is embedded again (its size and time are in the key).
    monkeypatch.undo()
    Image.fromarray(np.ascontiguousarray(np.zeros((64, 64, 3), np.uint8))).save(
        root / "Grace" / "Grace_0001.jpg"
    )
    changed = embed_pair_set(pipeline, pairs, cache)
    assert changed.status[pairs.images.index("Grace/Grace_0001.jpg")] == CENTRED_BOX
    # Folders of arbitrary photos get no centred box: a photo without a face has no embedding.
    folder = pairs_from_folder(root, impostors=0)
    assert not folder.centred_fallback
    strict = embed_pair_set(pipeline, folder, cache)
    assert strict.status[folder.images.index("Coffee/Coffee_0001.jpg")] == NO_FACE


def _gallery_faces() -> GalleryFaces:
    rng = np.random.default_rng(0)
    centres = {p: rng.normal(0, 0.12, 128) for p in ("Ann", "Bob", "Cid")}
    people = ("Ann", "Ann", "Ann", "Bob", "Bob", "Cid")
    embeddings = np.stack([centres[p] + rng.normal(0, 0.01, 128) for p in people])
    return GalleryFaces(
        face_ids=tuple(f"face{i}" for i in range(6)),
        people=people,
        embeddings=embeddings.astype(np.float32),
        chip_paths=tuple(),
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


def test_scores_point_either_way_and_the_operating_point_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    same = np.r_[np.ones(500, bool), np.zeros(2000, bool)]
    d = np.where(same, rng.normal(0.4, 0.08, len(same)), rng.normal(0.8, 0.08, len(same)))
    distances = PairScores(d, same, np.zeros(len(same)), "distance", higher_is_same=False)
    similarity = PairScores(1 - d, same, np.zeros(len(same)), "head", higher_is_same=True)
    for scores, sign in ((distances, 1), (similarity, -1)):
        report = evaluate(scores)
        assert report.roc_auc == pytest.approx(evaluate(distances).roc_auc)
        assert report.eer == pytest.approx(evaluate(distances).eer)
        # Thresholds come back in each scorer's own units: 1 − t for the similarity.
        t = report.eer_threshold
        assert (t if sign == 1 else 1 - t) == pytest.approx(evaluate(distances).eer_threshold)
        assert scores.errors_at(t).far == pytest.approx(report.eer, abs=0.01)
    at_far = distances.tar_at_far(1e-2).threshold
    assert distances.errors_at(at_far).far <= 1e-2
    assert distances.errors_at(distances.equal_error_rate()[1]).frr == pytest.approx(
        evaluate(distances).eer, abs=0.01
    )
    point = operating_point(distances, at_far, model_id=MODEL, dataset="test", method="FAR 1e-2")
    with pytest.raises(ValueError, match="distance threshold"):
        operating_point(similarity, 0.5, model_id=MODEL, dataset="test", method="EER")
    path = save_operating_point(tmp_path, point, actor=OPERATOR)
    assert json.loads(path.read_text())["threshold"] == pytest.approx(at_far)
    assert read_operating_point(tmp_path) == point
    settings = Settings.from_env()
    settings = type(settings)(**{**settings.__dict__, "data_dir": tmp_path})
    threshold = default_threshold(settings, MODEL)
    assert threshold.value == pytest.approx(at_far)
    assert "saved operating point" in threshold.source and "test" in threshold.source


def test_worst_errors_and_errors_per_person_by_hand():
    pairs = PairSet(
        name="hand",
        source="folder",
        root=Path("."),
        images=("A1", "A2", "B1", "C1"),
        identities=("A", "A", "B", "C"),
        a=np.array([0, 0, 1, 2]),
        b=np.array([1, 2, 3, 3]),
        same=np.array([True, False, False, False]),
        folds=np.zeros(4, np.int64),
    )
    # On a line: A1 at 0, A2 at 0.5, B1 at 0.3, C1 at 2 → distances 0.5, 0.3, 1.5, 1.7.
    points = np.array([[0.0, 0], [0.5, 0], [0.3, 0], [2.0, 0]], np.float32)
    embedded = EmbeddedPairs(pairs, points, np.zeros(4, np.int8), MODEL, "none")
    scores = pair_scores(DistanceScorer(), embedded)
    impostors, genuine = worst_errors(embedded, scores, count=2)
    assert [r.pair for r in impostors] == [1, 2] and impostors[0].score == pytest.approx(0.3)
    assert [r.pair for r in genuine] == [0]
    rows = {r.person: r for r in errors_by_identity(embedded, scores, threshold=0.4)}
    assert list(rows) == ["A", "B", "C"]  # most errors first
    # A: its genuine pair rejected, and accepted against B; B: that one false accept.
    assert (rows["A"].false_rejects, rows["A"].genuine_pairs) == (1, 1)
    assert (rows["A"].false_accepts, rows["A"].impostor_pairs) == (1, 2)
    assert (rows["B"].false_accepts, rows["B"].impostor_pairs) == (1, 2)
    assert (rows["C"].false_accepts, rows["C"].false_rejects, rows["C"].impostor_pairs) == (0, 0, 2)


def test_pairs_in_folds_follow_the_lfw_protocol_for_distance_and_heads():
    rng = np.random.default_rng(2)
    n_people, per_fold = 40, 20
    centres = rng.normal(0, 0.12, (n_people, 128))
    images = centres.repeat(2, axis=0) + rng.normal(0, 0.03, (2 * n_people, 128))
    # Fold f: 10 genuine pairs (a person's two photos) and 10 impostor pairs.
    a, b, same, folds = [], [], [], []
    for fold in range(4):
        people = rng.choice(n_people, size=per_fold, replace=False)
        for i, person in enumerate(people):
            other = people[(i + 1) % per_fold]
            genuine = i < per_fold // 2
            a.append(2 * person)
            b.append(2 * person + 1 if genuine else 2 * other)
            same.append(genuine)
            folds.append(fold)
    pairs = PairSet(
        name="folds",
        source="pairs file",
        root=Path("."),
        images=tuple(str(i) for i in range(len(images))),
        identities=tuple(str(i // 2) for i in range(len(images))),
        a=np.array(a),
        b=np.array(b),
        same=np.array(same),
        folds=np.array(folds),
    )
    embedded = EmbeddedPairs(pairs, images.astype(np.float32), np.zeros(len(images)), MODEL, "-")
    distance = run_evaluation("distance", embedded)
    assert distance.report.protocol.startswith("4-fold")
    assert len(distance.report.fold_accuracies) == 4 and distance.report.accuracy == 1.0
    head = run_evaluation("absdiff", embedded)  # no training pairs: trained on the other folds
    assert head.head is None and head.report.protocol.startswith("4-fold")
    assert head.report.higher_is_same and head.report.accuracy > 0.9
    with pytest.raises(DatasetError, match="needs training pairs"):
        run_evaluation("chi2", replace(embedded, pairs=replace(pairs, folds=np.zeros(80))))
