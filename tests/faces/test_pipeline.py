"""The face façade end to end: image in, faces with embeddings out."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidImage
from engine.faces.pipeline import FacePipeline, PipelineOptions, face_nearest_center


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.load(device="cpu")


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def test_one_face_each_with_everything_filled_in(pipeline, astronaut, grace_hopper):
    for image in (astronaut, grace_hopper):
        faces = pipeline.analyze(image)
        assert len(faces) == 1
        face = faces[0]
        assert face.score > 0.5
        assert face.chip.shape == (150, 150, 3) and face.chip.dtype == np.uint8
        assert face.landmarks.shape == (5, 2)
        assert face.embedding is not None and face.embedding.shape == (128,)
        # Landmarks fall inside the box: the eyes and nose are in the face.
        x, y = face.landmarks[:, 0], face.landmarks[:, 1]
        assert (x > face.box.left - 5).all() and (x < face.box.right + 5).all()
        assert (y > face.box.top - 5).all() and (y < face.box.bottom + 5).all()


def test_same_person_close_different_people_far(pipeline, astronaut, grace_hopper):
    a = pipeline.analyze(astronaut)[0].embedding
    mirrored = pipeline.analyze(np.ascontiguousarray(astronaut[:, ::-1]))[0].embedding
    g = pipeline.analyze(grace_hopper)[0].embedding
    assert _distance(a, mirrored) < 0.4
    assert _distance(a, g) > 0.6


def test_matches_dlib_full_pipeline(pipeline, astronaut, grace_hopper):
    dlib = pytest.importorskip("dlib")
    from engine.faces.model_files import (
        FACE_RESNET_FILE,
        LANDMARKS_5_FILE,
        MMOD_DETECTOR_FILE,
        model_path,
    )

    cnn = dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR_FILE)))
    shapes = dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))
    resnet = dlib.face_recognition_model_v1(str(model_path(FACE_RESNET_FILE)))
    for image in (astronaut, grace_hopper):
        best = max(cnn(image, 0), key=lambda d: d.confidence)
        reference = np.array(resnet.compute_face_descriptor(image, shapes(image, best.rect)))
        ours = pipeline.analyze(image)[0]
        assert ours.box.left == best.rect.left() and ours.box.bottom == best.rect.bottom()
        assert np.abs(ours.embedding - reference).max() <= 1e-4


def test_no_face_gives_empty_list(pipeline):
    from skimage import data

    assert pipeline.analyze(np.full((300, 400, 3), 127, np.uint8)) == []
    assert pipeline.analyze(data.coffee()) == []


def test_embed_false_skips_the_embedder(pipeline, astronaut):
    faces = pipeline.analyze(astronaut, embed=False)
    assert len(faces) == 1 and faces[0].embedding is None


def test_small_face_found_by_auto_upsampling(pipeline, grace_hopper):
    small = np.asarray(Image.fromarray(grace_hopper).resize((160, 188), Image.Resampling.LANCZOS))
    assert pipeline.analyze(small, upsample=0) == []
    assert len(pipeline.analyze(small, upsample="auto")) == 1


def test_large_image_is_detected_at_reduced_size_and_mapped_back(astronaut):
    big = np.asarray(Image.fromarray(astronaut).resize((2048, 2048), Image.Resampling.BICUBIC))
    small_pipeline = FacePipeline.load(device="cpu", options=PipelineOptions(max_side=512))
    reference = small_pipeline.analyze(astronaut)[0]
    face = small_pipeline.analyze(big)[0]
    assert face.box.left == pytest.approx(reference.box.left * 4, abs=6)
    assert face.box.width == pytest.approx(reference.box.width * 4, abs=6)
    assert _distance(face.embedding, reference.embedding) < 0.15


def test_bytes_input_and_bad_input(pipeline, astronaut):
    buffer = io.BytesIO()
    Image.fromarray(astronaut).save(buffer, format="PNG")
    assert len(pipeline.analyze(buffer.getvalue())) == 1
    with pytest.raises(InvalidImage):
        pipeline.analyze(b"definitely not an image")


def test_analyze_many_equals_one_by_one(pipeline, astronaut, grace_hopper):
    calls = []
    many = pipeline.analyze_many(
        [astronaut, grace_hopper, np.zeros((64, 64, 3), np.uint8)],
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [len(f) for f in many] == [1, 1, 0]
    assert calls[-1] == (3, 3)
    single = pipeline.analyze(grace_hopper)[0].embedding
    np.testing.assert_allclose(many[1][0].embedding, single, atol=1e-5)


def test_threads_share_one_pipeline(pipeline, astronaut, grace_hopper):
    expected = {
        0: pipeline.analyze(astronaut)[0].embedding,
        1: pipeline.analyze(grace_hopper)[0].embedding,
    }
    images = [astronaut, grace_hopper] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(pipeline.analyze, images))
    for i, faces in enumerate(results):
        np.testing.assert_allclose(faces[0].embedding, expected[i % 2], atol=1e-5)


def test_face_nearest_center_picks_the_central_face(pipeline, astronaut, grace_hopper):
    canvas = np.zeros((600, 1400, 3), np.uint8)
    canvas[:512, :512] = astronaut
    canvas[:600, 800:1312] = grace_hopper
    faces = pipeline.analyze(canvas)
    assert len(faces) == 2
    picked = face_nearest_center(canvas, faces)
    assert len(picked) == 1 and picked[0].box.left > 700


def test_mirror_augmentation_is_the_mean_of_chip_and_flip(pipeline, astronaut):
    mirror = pipeline.with_options(augment="mirror")
    face = mirror.analyze(astronaut)[0]
    plain = pipeline.embedder.embed_chip(face.chip)
    flipped = pipeline.embedder.embed_chip(np.ascontiguousarray(face.chip[:, ::-1]))
    np.testing.assert_allclose(face.embedding, (plain + flipped) / 2, atol=1e-5)


def test_jitter_augmentation_averages_ten_views(pipeline, astronaut, grace_hopper):
    from engine.faces.jitter import AUGMENTATIONS

    jitter = pipeline.with_options(augment="jitter")
    assert AUGMENTATIONS["jitter"].views == 10
    face = jitter.analyze(astronaut)[0]
    views = jitter.views(astronaut, [face])
    assert len(views) == 5
    # The first view is the aligned chip itself; the others are moved crops of the same face.
    np.testing.assert_array_equal(views[0], face.chip)
    assert all(np.abs(v.astype(int) - face.chip).mean() > 1 for v in views[1:])
    plain = pipeline.analyze(astronaut)[0].embedding
    assert 0 < _distance(face.embedding, plain) < 0.2  # same person: typically 0.3-0.5
    many = jitter.analyze_many([astronaut, grace_hopper])
    np.testing.assert_allclose(many[0][0].embedding, face.embedding, atol=1e-5)


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="augmentation"):
        PipelineOptions(augment="sideways")
