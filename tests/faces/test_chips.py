"""Face chips against dlib's ``get_face_chip`` / ``get_face_chips``, and their descriptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidImage
from engine.faces.chips import (
    MEAN_FACE_5_POINTS,
    extract_face_chip,
    extract_face_chips,
    face_chip_transform,
)
from engine.faces.model_files import FACE_RESNET_FILE, LANDMARKS_5_FILE, model_path

LFW_PEOPLE = 8
# dlib builds a pyramid when the chip's crop, halved once, still holds more than size² pixels.
PYRAMID_SCALE = 2.2


@pytest.fixture(scope="module")
def dlib():
    return pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def dlib_models(dlib):
    """dlib's detector, 5-point predictor and face ResNet (reference only)."""
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE))),
        dlib.face_recognition_model_v1(str(model_path(FACE_RESNET_FILE))),
    )


def _dlib_faces(dlib_models, image: np.ndarray, rects=None) -> list:
    """dlib's landmarks (full_object_detection) for each face dlib finds, or in ``rects``."""
    detector, shape_predictor, _ = dlib_models
    rects = detector(image, 1) if rects is None else rects
    return [shape_predictor(image, rect) for rect in rects]


def _main_face(dlib_models, image: np.ndarray):
    """dlib's landmarks of the detection dlib scores highest (astronaut has a second, weak one)."""
    detector = dlib_models[0]
    rects, scores, _ = detector.run(image, 1)
    best = rects[int(np.argmax(scores))]
    return _dlib_faces(dlib_models, image, [best])[0]


def _points(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float)


def _scaled(dlib, rect, factor: int):
    return dlib.rectangle(
        rect.left() * factor, rect.top() * factor, rect.right() * factor, rect.bottom() * factor
    )


def _upscaled(image: np.ndarray, factor: int) -> np.ndarray:
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((width * factor, height * factor)))


def _diff(ours: np.ndarray, expected: np.ndarray) -> np.ndarray:
    assert ours.shape == expected.shape and ours.dtype == np.uint8
    return np.abs(ours.astype(int) - expected.astype(int))


def _large_grace(dlib, dlib_models, grace_hopper: np.ndarray, factor: int = 3):
    """grace_hopper upscaled so the face is over twice the chip size; box scaled from 1×."""
    detector = dlib_models[0]
    image = _upscaled(grace_hopper, factor)
    rects = [_scaled(dlib, rect, factor) for rect in detector(grace_hopper, 1)]
    return image, _dlib_faces(dlib_models, image, rects)


# ----------------------------------------------------------------------------------------
# Geometry


def test_transform_matches_dlib_chip_details(dlib, dlib_models, grace_hopper) -> None:
    shape = _main_face(dlib_models, grace_hopper)
    expected = dlib.get_face_chip_details(shape, 150, 0.25)
    ours = face_chip_transform(_points(shape))
    rect = expected.rect
    np.testing.assert_allclose(
        ours.rect, (rect.left(), rect.top(), rect.right(), rect.bottom()), atol=1e-9
    )
    assert ours.angle == pytest.approx(expected.angle, abs=1e-12)
    assert (ours.rows, ours.cols) == (expected.rows, expected.cols) == (150, 150)


def test_transform_maps_landmarks_near_the_template_and_back(dlib_models, astronaut) -> None:
    shape = _main_face(dlib_models, astronaut)
    landmarks = _points(shape)
    tf = face_chip_transform(landmarks)
    template = (0.25 + MEAN_FACE_5_POINTS) / 1.5 * 150
    in_chip = tf.to_chip(landmarks)
    assert np.abs(in_chip - template).max() < 6  # a 5-point similarity fit, not exact
    np.testing.assert_allclose(tf.to_image(in_chip), landmarks, atol=1e-9)
    # dlib's get_mapping_to_chip: the rect's corners go to the chip's corners.
    corners = tf.to_chip(tf.to_image(np.array([[0, 0], [149, 0], [149, 149]])))
    np.testing.assert_allclose(corners, [[0, 0], [149, 0], [149, 149]], atol=1e-9)


def test_bad_landmarks_and_images_are_rejected(astronaut) -> None:
    with pytest.raises(ValueError):
        face_chip_transform(np.zeros((68, 2)))
    landmarks = np.array([[300, 200], [280, 200], [220, 200], [240, 200], [260, 240]], float)
    with pytest.raises(InvalidImage):
        extract_face_chip(astronaut.astype(np.float32), landmarks)


# ----------------------------------------------------------------------------------------
# Pixels


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_chip_matches_dlib(dlib, dlib_models, request, photo: str) -> None:
    image = request.getfixturevalue(photo)
    shape = _main_face(dlib_models, image)
    diff = _diff(extract_face_chip(image, _points(shape)), dlib.get_face_chip(image, shape))
    print(f"{photo}: max {diff.max()} mean {diff.mean():.4f} levels")
    assert diff.max() <= 1


def test_large_face_goes_through_dlibs_pyramid(dlib, dlib_models, grace_hopper) -> None:
    image, (shape,) = _large_grace(dlib, dlib_models, grace_hopper)
    landmarks = _points(shape)
    assert face_chip_transform(landmarks).scale > PYRAMID_SCALE
    diff = _diff(extract_face_chip(image, landmarks), dlib.get_face_chip(image, shape, 150, 0.25))
    print(f"grace_hopper ×3: max {diff.max()} mean {diff.mean():.4f} levels")
    assert diff.max() <= 1


def test_gray_chip_matches_dlib(dlib, dlib_models, grace_hopper) -> None:
    gray = np.asarray(Image.fromarray(grace_hopper).convert("L"))
    shape = _main_face(dlib_models, gray)
    ours = extract_face_chip(gray, _points(shape))
    assert ours.shape == (150, 150)
    assert _diff(ours, dlib.get_face_chip(gray, shape)).max() <= 1


def test_face_partly_outside_the_image_is_black_there(dlib, dlib_models, astronaut) -> None:
    shape = _main_face(dlib_models, astronaut)
    left, top = shape.part(2).x - 10, shape.part(0).y - 20  # cut through the eyes
    cropped = np.ascontiguousarray(astronaut[top:, left:])
    moved = dlib.full_object_detection(
        dlib.rectangle(0, 0, 10, 10), [dlib.point(p.x - left, p.y - top) for p in shape.parts()]
    )
    ours = extract_face_chip(cropped, _points(moved))
    assert (ours[:20] == 0).all()  # the chip's top rows lie above the cropped image
    assert _diff(ours, dlib.get_face_chip(cropped, moved)).max() <= 1


def test_batched_chips_match_dlib_get_face_chips(dlib, dlib_models, astronaut, grace_hopper):
    """Several faces share one pyramid in dlib; at 2× the faces are large enough to need it."""
    canvas = np.zeros((600, 1030, 3), np.uint8)
    canvas[:512, :512] = astronaut
    canvas[:, 518:] = grace_hopper[:, :512]
    detector = dlib_models[0]
    rects = detector(canvas, 0)
    assert len(rects) >= 2
    image = _upscaled(canvas, 2)
    shapes = _dlib_faces(dlib_models, image, [_scaled(dlib, r, 2) for r in rects])
    expected = dlib.get_face_chips(image, dlib.full_object_detections(shapes), 150, 0.25)
    ours = extract_face_chips(image, [_points(s) for s in shapes])
    assert len(ours) == len(expected)
    for chip, reference in zip(ours, expected, strict=True):
        assert _diff(chip, np.asarray(reference)).max() <= 1


# ----------------------------------------------------------------------------------------
# Descriptors: what the chips are for


def _descriptor_distances(dlib_models, image: np.ndarray, shapes, dlib) -> list[float]:
    resnet = dlib_models[2]
    distances = []
    for shape in shapes:
        ours = np.array(resnet.compute_face_descriptor(extract_face_chip(image, _points(shape))))
        theirs = np.array(resnet.compute_face_descriptor(dlib.get_face_chip(image, shape)))
        distances.append(float(np.linalg.norm(ours - theirs)))
    return distances


def test_descriptors_of_our_chips_match_dlibs(dlib, dlib_models, astronaut, grace_hopper) -> None:
    distances = []
    for image in (astronaut, grace_hopper):
        distances += _descriptor_distances(
            dlib_models, image, _dlib_faces(dlib_models, image), dlib
        )
    large, shapes = _large_grace(dlib, dlib_models, grace_hopper)
    distances += _descriptor_distances(dlib_models, large, shapes, dlib)
    print(f"descriptor distance: median {np.median(distances):.2e} max {max(distances):.2e}")
    assert np.median(distances) <= 0.02
    assert max(distances) <= 0.05


@pytest.mark.lfw
def test_descriptors_match_on_lfw(dlib, dlib_models, lfw_dir: Path) -> None:
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[::700][:LFW_PEOPLE]
    distances, pixel_max = [], 0
    for person in people:
        image = np.asarray(Image.open(sorted(person.glob("*.jpg"))[0]).convert("RGB"))
        shapes = _dlib_faces(dlib_models, image)
        for shape in shapes:
            diff = _diff(extract_face_chip(image, _points(shape)), dlib.get_face_chip(image, shape))
            pixel_max = max(pixel_max, int(diff.max()))
        distances += _descriptor_distances(dlib_models, image, shapes, dlib)
    assert len(distances) >= LFW_PEOPLE // 2
    print(
        f"LFW: {len(distances)} chips, pixel max diff {pixel_max}, "
        f"descriptor median {np.median(distances):.2e} max {max(distances):.2e}"
    )
    assert pixel_max <= 1
    assert np.median(distances) <= 0.02
