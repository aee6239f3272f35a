"""The CNN face detector against dlib's own (``dlib.cnn_face_detection_model_v1``).

dlib is slow (~0.3 s per 250×250 image, ~1.4 s per 512×512 on two cores, 4× that with
upsampling), so its answers are computed once per module and the images are few.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InvalidImage, ModelFileError
from engine.faces.detector import MmodFaceDetector
from engine.faces.mmod_file import read_mmod_model
from engine.faces.model_files import FACE_RESNET_FILE, MMOD_DETECTOR_FILE, model_path
from engine.faces.pyramid import pyramid_up_size, resize_bilinear_like_dlib, tiled_pyramid_layout
from engine.faces.types import Box, Detection

ReferenceFn = Callable[[str, np.ndarray, int], list[Detection]]


@pytest.fixture(scope="module")
def detector() -> MmodFaceDetector:
    return MmodFaceDetector.load(device="cpu")


@pytest.fixture(scope="module")
def dlib_detect() -> ReferenceFn:
    """dlib's detector, memoized by (name, upsample) so each image costs dlib time once."""
    dlib = pytest.importorskip("dlib")
    reference = dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR_FILE)))
    cache: dict[tuple[str, int], list[Detection]] = {}

    def detect(name: str, image: np.ndarray, upsample: int) -> list[Detection]:
        if (name, upsample) not in cache:
            cache[name, upsample] = [
                Detection(
                    Box(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()),
                    d.confidence,
                )
                for d in reference(image, upsample)
            ]
        return cache[name, upsample]

    return detect


@pytest.fixture(scope="module")
def two_faces(astronaut: np.ndarray, grace_hopper: np.ndarray) -> np.ndarray:
    """A group photo made from two: astronaut | grace_hopper's top 512 rows (512×1024)."""
    return np.ascontiguousarray(np.concatenate([astronaut, grace_hopper[:512, :512]], axis=1))


def assert_same_as_dlib(ours: list[Detection], theirs: list[Detection]) -> None:
    """Same faces: equal count; each dlib box matched with IoU ≥ 0.9, score within 1e-4.

    Our port reproduces dlib's integer rectangles exactly (scores differ by ~4e-6 at most),
    so the boxes must also be equal.
    """
    assert len(ours) == len(theirs), (ours, theirs)
    for ref in theirs:
        best = max(ours, key=lambda d: d.box.iou(ref.box))
        assert best.box.iou(ref.box) >= 0.9, (best, ref)
        assert abs(best.score - ref.score) < 1e-4, (best, ref)
        assert best.box == ref.box, (best, ref)
    assert [d.score for d in ours] == sorted((d.score for d in ours), reverse=True)


# --- the file -------------------------------------------------------------------------
def test_reads_the_model_file() -> None:
    model = read_mmod_model()
    assert [(w.width, w.height) for w in model.options.windows] == [(80, 80)]
    assert model.options.nms_iou_threshold == pytest.approx(0.338, abs=1e-3)
    assert model.options.nms_percent_covered_threshold == 1.0
    assert model.pyramid_input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    assert (model.pyramid_input.padding, model.pyramid_input.outer_padding) == (10, 11)
    shapes = [c.weight.shape for c in model.convs]
    assert shapes == [
        (16, 3, 5, 5),
        (32, 16, 5, 5),
        (32, 32, 5, 5),
        (45, 32, 5, 5),
        (45, 45, 5, 5),
        (45, 45, 5, 5),
        (1, 45, 9, 9),
    ]
    params = sum(c.weight.size + c.bias.size for c in model.convs)
    params += sum(a.scale.size + a.shift.size for a in model.affines)
    assert params == 181_141


def test_rejects_a_file_that_is_not_the_detector(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x01\x05hello world, not a network")
    with pytest.raises(ModelFileError):
        read_mmod_model(junk)
    with pytest.raises(ModelFileError, match="loss_mmod_"):  # dlib's face ResNet
        read_mmod_model(model_path(FACE_RESNET_FILE))


def test_rejects_a_truncated_file(tmp_path: Path) -> None:
    data = model_path(MMOD_DETECTOR_FILE).read_bytes()
    for size in (3, 200, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut{size}.dat"
        cut.write_bytes(data[:size])
        with pytest.raises(ModelFileError):
            read_mmod_model(cut)
    longer = tmp_path / "longer.dat"
    longer.write_bytes(data + b"\x00")
    with pytest.raises(ModelFileError, match="unexpected bytes"):
        read_mmod_model(longer)
    with pytest.raises(ModelFileError):
        read_mmod_model(tmp_path / "missing.dat")


# --- building blocks, against dlib's own functions ------------------------------------
def test_resize_is_bit_exact_with_dlib() -> None:
    """Our emulation of dlib's SIMD bilinear ``resize_image`` (float and RGB) is exact."""
    dlib = pytest.importorskip("dlib")
    rng = np.random.default_rng(0)
    for rows, cols, out_rows, out_cols in [
        (250, 250, 208, 208),
        (97, 131, 80, 109),
        (7, 5, 5, 4),
        (40, 33, 81, 68),
    ]:
        plane = rng.standard_normal((rows, cols)).astype(np.float32)
        ours = resize_bilinear_like_dlib(torch.from_numpy(plane)[None, None], out_rows, out_cols)
        np.testing.assert_array_equal(
            ours[0, 0].numpy(), dlib.resize_image(plane, out_rows, out_cols)
        )

        rgb = rng.integers(0, 256, size=(rows, cols, 3), dtype=np.uint8)
        up_rows, up_cols = pyramid_up_size(rows, cols)
        planes = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
        ours_rgb = resize_bilinear_like_dlib(planes, up_rows, up_cols, uint8_pixels=True)
        np.testing.assert_array_equal(
            ours_rgb[0].permute(1, 2, 0).numpy().astype(np.uint8),
            dlib.resize_image(rgb, up_rows, up_cols),
        )


def test_pyramid_up_size_matches_dlib() -> None:
    dlib = pytest.importorskip("dlib")
    for rows, cols in [(250, 250), (512, 600), (3, 7)]:
        up = dlib.pyramid_down(2).rect_up(dlib.rectangle(0, 0, cols - 1, rows - 1))
        assert pyramid_up_size(rows, cols) == (up.bottom() + 1, up.right() + 1)


def test_tiled_pyramid_layout() -> None:
    tiles = tiled_pyramid_layout(250, 250, padding=10, outer_padding=11)
    levels = tiles.levels
    assert (levels[0].left, levels[0].top, levels[0].width, levels[0].height) == (11, 11, 250, 250)
    assert tiles.cols == 250 + 2 * 11
    for prev, level in itertools.pairwise(levels):
        assert (level.height, level.width) == (prev.height * 5 // 6, prev.width * 5 // 6)
    assert levels[-1].height >= 5
    for i, a in enumerate(levels):
        assert a.left >= 0 and a.top >= 0 and a.right < tiles.cols and a.bottom < tiles.rows
        for b in levels[i + 1 :]:
            apart = a.right < b.left or b.right < a.left or a.bottom < b.top or b.bottom < a.top
            assert apart, (a, b)


# --- detection ------------------------------------------------------------------------
def test_finds_the_astronauts_face(detector: MmodFaceDetector, astronaut: np.ndarray) -> None:
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    assert faces[0].box == Box(168, 69, 263, 164)
    assert faces[0].score == pytest.approx(1.0625, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "upsample"),
    [
        ("astronaut", 0),
        ("grace_hopper", 0),
        ("two_faces", 0),
        ("face_at_left_edge", 0),
        ("small_astronaut", 1),
    ],
)
def test_same_faces_as_dlib(
    name: str,
    upsample: int,
    detector: MmodFaceDetector,
    dlib_detect: ReferenceFn,
    request: pytest.FixtureRequest,
) -> None:
    if name == "small_astronaut":  # a 256×256 image: a ~48 px face, found only upsampled
        image = np.ascontiguousarray(request.getfixturevalue("astronaut")[::2, ::2])
        assert detector.detect(image) == [] == dlib_detect(name, image, 0)
    elif name == "face_at_left_edge":  # the box's left is −12.5 before rounding: dlib says −13
        image = np.ascontiguousarray(request.getfixturevalue("astronaut")[:, 192:])
    else:
        image = request.getfixturevalue(name)
    expected_faces = 2 if name == "two_faces" else 1
    theirs = dlib_detect(name, image, upsample)
    assert len(theirs) == expected_faces
    assert_same_as_dlib(detector.detect(image, upsample=upsample), theirs)


def test_no_face_no_detection(detector: MmodFaceDetector, dlib_detect: ReferenceFn) -> None:
    from skimage import data

    coffee = np.ascontiguousarray(data.coffee())
    gray = np.full((200, 240, 3), 128, dtype=np.uint8)
    for name, image in [("coffee", coffee), ("gray", gray)]:
        assert dlib_detect(name, image, 0) == []
        assert detector.detect(image) == []


@pytest.mark.lfw
def test_same_faces_as_dlib_on_lfw(
    detector: MmodFaceDetector, dlib_detect: ReferenceFn, lfw_dir: Path
) -> None:
    from PIL import Image

    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    paths = [min(p.glob("*.jpg")) for p in people[::500][:8]]
    # Faces cut by the image's left edge (boxes with negative left, rounded like dlib).
    paths += [lfw_dir / "Caio_Blat" / "Caio_Blat_0001.jpg"]
    paths += [lfw_dir / "Damon_Stoudamire" / "Damon_Stoudamire_0001.jpg"]
    for index, path in enumerate(paths):
        image = np.asarray(Image.open(path).convert("RGB"))
        for upsample in (0, 1) if index < 2 else (0,):
            theirs = dlib_detect(path.name, image, upsample)
            assert theirs, f"dlib finds no face in {path.name}"
            assert_same_as_dlib(detector.detect(image, upsample=upsample), theirs)


# --- API behaviour --------------------------------------------------------------------
def test_threshold(detector: MmodFaceDetector, two_faces: np.ndarray) -> None:
    default = detector.detect(two_faces)
    loose = detector.detect(two_faces, threshold=-1.0)
    # NMS goes best first, so weaker windows never remove the faces found at threshold 0.
    assert len(loose) > len(default) and all(d in loose for d in default)
    assert all(d.score > -1.0 for d in loose)
    assert [d.score for d in loose] == sorted((d.score for d in loose), reverse=True)
    assert detector.detect(two_faces, threshold=max(d.score for d in default)) == []


def test_batch_and_threads_agree_with_single_calls(
    detector: MmodFaceDetector, astronaut: np.ndarray, grace_hopper: np.ndarray
) -> None:
    images = [
        astronaut[::2, ::2],
        grace_hopper[::2, ::2],
        astronaut[::-2, ::2],
        astronaut[::2, ::2],
    ]
    images = [np.ascontiguousarray(image) for image in images]
    single = [detector.detect(image, upsample=1) for image in images]
    assert [len(found) for found in single] == [1, 1, 0, 1]  # no face upside down
    batched = detector.detect_batch(images, upsample=1)  # the three 256×256 share a forward
    for found, expected in zip(batched, single, strict=True):
        assert [d.box for d in found] == [d.box for d in expected]
        assert [d.score for d in found] == pytest.approx([d.score for d in expected], abs=1e-5)

    results: list[list[Detection] | None] = [None] * len(images)

    def work(index: int) -> None:
        results[index] = detector.detect(images[index], upsample=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == single


def test_gray_and_tiny_images(detector: MmodFaceDetector, astronaut: np.ndarray) -> None:
    gray = np.ascontiguousarray(astronaut.mean(axis=2).astype(np.uint8))
    assert len(detector.detect(gray)) == 1
    assert detector.detect(np.zeros((3, 3, 3), dtype=np.uint8)) == []
    assert detector.detect(np.zeros((0, 0, 3), dtype=np.uint8)) == []


def test_rejects_bad_images(detector: MmodFaceDetector) -> None:
    with pytest.raises(InvalidImage):
        detector.detect(np.zeros((50, 50, 3), dtype=np.float32))
    with pytest.raises(InvalidImage):
        detector.detect(np.zeros((50, 50, 4), dtype=np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((50, 50, 3), dtype=np.uint8), upsample=-1)
