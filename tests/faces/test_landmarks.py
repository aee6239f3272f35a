"""The numpy 5-point landmark predictor against dlib's ``shape_predictor``, from the same boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidImage, ModelFileError
from engine.faces.dlib_format import DlibReader
from engine.faces.landmarks import LandmarkPredictor, load_landmark_predictor
from engine.faces.model_files import LANDMARKS_5_FILE, MMOD_DETECTOR_FILE, model_path
from engine.faces.types import Box

LFW_PEOPLE = 12  # how many LFW photos the parity test runs on (first photo of every 400th name)


@pytest.fixture(scope="module")
def predictor() -> LandmarkPredictor:
    return load_landmark_predictor()


@pytest.fixture(scope="module")
def dlib_reference():
    """dlib's frontal face detector and its shape predictor on the same model file."""
    dlib = pytest.importorskip("dlib")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))


def _to_box(rect) -> Box:
    return Box(rect.left(), rect.top(), rect.right(), rect.bottom())


def _landmark_deviations(
    predictor: LandmarkPredictor, dlib_reference, image: np.ndarray, rects=None
) -> list[float]:
    """Per face, the largest |ours − dlib| over the 5 points' x and y (pixels)."""
    detector, shape_predictor = dlib_reference
    rects = detector(image, 1) if rects is None else rects
    deviations = []
    for rect in rects:
        expected = np.array([(p.x, p.y) for p in shape_predictor(image, rect).parts()], float)
        ours = predictor.predict(image, _to_box(rect))
        assert ours.shape == (5, 2)
        deviations.append(float(np.abs(ours - expected).max()))
    return deviations


def _gray(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("L"))


# ----------------------------------------------------------------------------------------
# The file


def _parse_with_reader(path: Path) -> dict[str, np.ndarray]:
    """Every number of the model, read one at a time with the plain sequential reader."""
    reader = DlibReader.from_file(path)
    assert reader.read_int() == 1
    initial_shape = reader.read_float_matrix().reshape(-1, 2)
    idx1, idx2, thresh, leaves = [], [], [], []
    for _ in range(reader.read_int()):
        for _ in range(reader.read_int()):
            splits = [
                (reader.read_int(), reader.read_int(), reader.read_float())
                for _ in range(reader.read_int())
            ]
            idx1.append([s[0] for s in splits])
            idx2.append([s[1] for s in splits])
            thresh.append([s[2] for s in splits])
            leaves.append([reader.read_float_matrix().ravel() for _ in range(reader.read_int())])
    anchors = [
        [reader.read_int() for _ in range(reader.read_int())] for _ in range(reader.read_int())
    ]
    deltas = [
        [(reader.read_float(), reader.read_float()) for _ in range(reader.read_int())]
        for _ in range(reader.read_int())
    ]
    assert reader.remaining == 0
    levels = len(anchors)
    return {
        "initial_shape": initial_shape,
        "split_idx1": np.array(idx1).reshape(levels, -1, len(idx1[0])),
        "split_idx2": np.array(idx2).reshape(levels, -1, len(idx2[0])),
        "split_thresh": np.array(thresh).reshape(levels, -1, len(thresh[0])),
        "leaf_values": np.array(leaves).reshape(levels, -1, *np.shape(leaves[0])),
        "anchor_idx": np.array(anchors),
        "deltas": np.array(deltas),
    }


def test_vectorised_parse_reads_every_number_like_the_sequential_reader(
    predictor: LandmarkPredictor,
) -> None:
    expected = _parse_with_reader(model_path(LANDMARKS_5_FILE))
    cascade = predictor._cascade
    for name, values in expected.items():
        ours = getattr(cascade, name)
        assert ours.shape == values.shape, name
        # Floats were decoded to float32 by dlib too; compare exactly.
        np.testing.assert_array_equal(ours, values.astype(ours.dtype), err_msg=name)


def test_model_has_the_documented_layout(predictor: LandmarkPredictor) -> None:
    assert predictor.num_parts == 5
    assert predictor.num_levels == 15
    assert predictor.num_trees == 15 * 500
    assert predictor._cascade.leaf_values.shape == (15, 500, 16, 10)
    assert predictor._cascade.deltas.shape == (15, 800, 2)
    assert predictor.load_seconds < 5  # ~0.3 s here; the sequential reader takes ~2 s


def test_truncated_file_is_rejected(tmp_path: Path) -> None:
    data = model_path(LANDMARKS_5_FILE).read_bytes()
    for cut in (len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut_{cut}.dat"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_landmark_predictor(path)


@pytest.mark.parametrize("content", [b"", b"not a model at all", bytes(range(256)) * 64])
def test_foreign_bytes_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "foreign.dat"
    path.write_bytes(content)
    with pytest.raises(ModelFileError):
        load_landmark_predictor(path)


def test_other_dlib_model_is_rejected() -> None:
    with pytest.raises(ModelFileError):
        load_landmark_predictor(model_path(MMOD_DETECTOR_FILE))


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        load_landmark_predictor(tmp_path / "absent.dat")


def test_non_uint8_image_is_rejected(predictor: LandmarkPredictor) -> None:
    with pytest.raises(InvalidImage):
        predictor.predict(np.zeros((50, 50, 3), np.float32), Box(10, 10, 40, 40))
    with pytest.raises(InvalidImage):
        predictor.predict(np.zeros((50, 50, 4), np.uint8), Box(10, 10, 40, 40))


# ----------------------------------------------------------------------------------------
# Parity with dlib


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
@pytest.mark.parametrize("as_gray", [False, True], ids=["rgb", "gray"])
def test_matches_dlib_on_sample_photos(
    predictor: LandmarkPredictor, dlib_reference, request, photo: str, as_gray: bool
) -> None:
    image = request.getfixturevalue(photo)
    if as_gray:
        image = _gray(image)
    deviations = _landmark_deviations(predictor, dlib_reference, image)
    assert deviations, "dlib found no face"
    print(f"{photo} {'gray' if as_gray else 'rgb'}: max deviation {max(deviations)} px")
    assert max(deviations) <= 1


def test_matches_dlib_when_the_box_leaves_the_image(
    predictor: LandmarkPredictor, dlib_reference, astronaut: np.ndarray
) -> None:
    """Feature pixels outside the image read as 0 in both."""
    dlib = pytest.importorskip("dlib")
    detector, _ = dlib_reference
    face = detector(astronaut, 1)[0]
    dx, dy = face.left() + face.width() // 3, face.top() + face.height() // 4
    cropped = np.ascontiguousarray(astronaut[dy:, dx:])
    shifted = dlib.rectangle(
        face.left() - dx, face.top() - dy, face.right() - dx, face.bottom() - dy
    )
    assert shifted.left() < 0 and shifted.top() < 0
    assert max(_landmark_deviations(predictor, dlib_reference, cropped, [shifted])) <= 1


@pytest.mark.lfw
def test_matches_dlib_on_lfw(predictor: LandmarkPredictor, dlib_reference, lfw_dir: Path) -> None:
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[::400][:LFW_PEOPLE]
    deviations = []
    for person in people:
        photo = sorted(person.glob("*.jpg"))[0]
        deviations += _landmark_deviations(
            predictor, dlib_reference, np.asarray(Image.open(photo).convert("RGB"))
        )
    assert len(deviations) >= LFW_PEOPLE // 2
    exact = sum(d == 0 for d in deviations)
    print(f"LFW: {len(deviations)} faces, {exact} exact, max deviation {max(deviations)} px")
    assert max(deviations) <= 1
