"""Bulk enrolment: a re-run skips enrolled files before decoding them, and a several-face
photo gives its main face when one clearly dominates (``engine.enrollment``)."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from engine.config import Settings
from engine.enrollment import MAIN_FACE_AREA_RATIO, enroll_folder, main_face
from engine.faces.pipeline import FacePipeline
from engine.faces.types import Box
from store import Gallery


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


class CountingPipeline:
    """The real pipeline, counting the images it is asked to analyse."""

    def __init__(self, pipeline: FacePipeline) -> None:
        self._pipeline = pipeline
        self.model_id = pipeline.model_id
        self.analysed: list[bytes] = []

    def analyze(self, source, **kwargs):
        self.analysed.append(source)
        return self._pipeline.analyze(source, **kwargs)


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.load()


@pytest.fixture
def gallery(tmp_path):
    settings = dataclasses.replace(Settings.from_env(), data_dir=tmp_path / "data")
    g = Gallery.open(settings)
    yield g
    g.close()


@pytest.fixture(scope="module")
def dominant(astronaut, grace_hopper) -> np.ndarray:
    """Grace Hopper framed at the centre (a 165 px face), the astronaut (96 px) at the left."""
    canvas = np.full((600, 1600, 3), 200, np.uint8)
    canvas[: grace_hopper.shape[0], 544 : 544 + grace_hopper.shape[1]] = grace_hopper
    canvas[: astronaut.shape[0], : astronaut.shape[1]] = astronaut
    return canvas


@pytest.fixture(scope="module")
def equal_pair(astronaut) -> np.ndarray:
    """The astronaut beside her mirror image: two faces of the same size, neither central."""
    return np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_a_rerun_decodes_nothing_and_reports_the_same_duplicates(
    tmp_path, gallery, pipeline, astronaut, grace_hopper
):
    root = _folder(
        tmp_path / "faces",
        {
            "Eileen_Collins/a.png": _png(astronaut),
            "Eileen_Collins/mirror.png": _png(astronaut[:, ::-1]),
            "Grace_Hopper/portrait.png": _png(grace_hopper),
        },
    )
    counting = CountingPipeline(pipeline)
    first = enroll_folder(counting, gallery, root)
    assert first.enrolled == 3 and len(counting.analysed) == 3

    counting.analysed.clear()
    rerun = enroll_folder(counting, gallery, root)
    assert counting.analysed == []  # nothing decoded, detected or embedded
    assert rerun.counts["duplicate"] == 3 and rerun.enrolled == 0
    firsts = {o.item: o.face_id for o in first.outcomes}
    for o in rerun.outcomes:
        assert o.reason == f"this face is already enrolled as {o.person}"
        assert o.face_id == firsts[o.item]  # the stored face, as the store's own check says
    assert gallery.count_faces() == 3

    # The same zip (as an upload's bytes) is recognised too.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*.png")):
            archive.write(path, path.relative_to(root).as_posix())
    zipped = enroll_folder(counting, gallery, buffer.getvalue())
    assert counting.analysed == [] and zipped.counts["duplicate"] == 3


def test_a_copy_within_one_run_is_skipped_before_decoding(tmp_path, gallery, pipeline, astronaut):
    data = _png(astronaut)
    root = _folder(tmp_path / "f", {"Eileen_Collins/a.png": data, "Eileen_Collins/b.png": data})
    counting = CountingPipeline(pipeline)
    summary = enroll_folder(counting, gallery, root)
    assert summary.enrolled == 1 and summary.duplicate == 1 and len(counting.analysed) == 1
    assert "already enrolled as Eileen Collins" in summary.outcomes[1].reason


def test_the_same_file_under_another_person_is_still_analysed(
    tmp_path, gallery, pipeline, astronaut
):
    data = _png(astronaut)
    enroll_folder(pipeline, gallery, _folder(tmp_path / "a", {"Eileen_Collins/a.png": data}))
    counting = CountingPipeline(pipeline)
    summary = enroll_folder(counting, gallery, _folder(tmp_path / "b", {"Someone/a.png": data}))
    assert len(counting.analysed) == 1  # the store's check says whose face it is
    assert summary.duplicate == 1
    assert summary.outcomes[0].reason == "this face is already enrolled as Eileen Collins"
    assert [p.name for p in gallery.people()] == ["Eileen Collins"]


def test_a_dominant_face_is_taken_and_equal_faces_are_skipped(
    tmp_path, gallery, pipeline, dominant, equal_pair
):
    root = _folder(
        tmp_path / "faces",
        {"Grace_Hopper/stage.png": _png(dominant), "Pair/twins.png": _png(equal_pair)},
    )
    summary = enroll_folder(pipeline, gallery, root)
    by_item = {o.item: o for o in summary.outcomes}
    taken, skipped = by_item["Grace_Hopper/stage.png"], by_item["Pair/twins.png"]
    assert taken.outcome == "enrolled" and taken.main_face and taken.label == "main face taken"
    assert taken.reason == "2 faces: took the main one (the largest, at the centre)"
    assert skipped.outcome == "several_faces" and not skipped.main_face
    assert skipped.reason.startswith("2 faces: none is clearly the main one")
    assert summary.main_face_taken == 1 and summary.several_faces == 1
    assert summary.as_dict()["main_face_taken"] == 1
    [face] = gallery.faces_of(gallery.find_person("Grace Hopper").id)
    assert face.box[0] > 544  # Grace's face (right of the astronaut's 512 px), not Eileen's
    # Taken once, it is a duplicate on the next run, again before decoding.
    counting = CountingPipeline(pipeline)
    again = enroll_folder(counting, gallery, root)
    assert len(counting.analysed) == 1  # only the skipped pair is analysed again
    assert again.counts["duplicate"] == 1 and again.several_faces == 1


def test_option_off_keeps_every_several_face_photo_out(tmp_path, gallery, pipeline, dominant):
    root = _folder(tmp_path / "faces", {"Grace_Hopper/stage.png": _png(dominant)})
    summary = enroll_folder(pipeline, gallery, root, take_main_face=False)
    [outcome] = summary.outcomes
    assert outcome.outcome == "several_faces"
    assert outcome.reason == "2 faces: bulk enrolment takes one-face images only"
    assert summary.main_face_taken == 0 and gallery.count_faces() == 0


def _face(left: float, top: float, side: float) -> SimpleNamespace:
    return SimpleNamespace(box=Box(left, top, left + side - 1, top + side - 1))


def test_main_face_needs_the_size_margin_and_the_centre():
    big, small = _face(75, 75, 100), _face(0, 0, 60)  # 10000 vs 3600 px², centre 124.5
    assert main_face([big, small], 250, 250) is big
    assert main_face([small, big], 250, 250) is big
    # Just under the ratio: skipped.
    side = int((100 * 100 / MAIN_FACE_AREA_RATIO) ** 0.5) + 1
    assert main_face([big, _face(0, 0, side)], 250, 250) is None
    # Large enough, but the picture is not centred on it.
    assert main_face([_face(0, 0, 100), _face(150, 150, 60)], 250, 250) is None
    # A small face nearer the centre than the large one, inside the large one's box.
    assert main_face([_face(60, 60, 140), _face(105, 105, 40)], 250, 250) is None
    assert main_face([big], 250, 250) is big and main_face([], 250, 250) is None
