"""The engine's entry points on every bad input: load_image, FacePipeline.analyze, enrolling one
photo, bulk enrolment of a folder and of zips, and LFW pairs files. Typed errors with a clear
message, valid-but-awkward images working, and the gallery untouched by what is refused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from engine.enrollment import enroll_folder
from engine.errors import InvalidImage, VisionLabError
from engine.evaluation.embedding import UNREADABLE, embed_pair_set
from engine.evaluation.pair_sets import pairs_from_file
from engine.evaluation.pairs_file import PairsFileError
from engine.images import load_image
from engine.safe_zip import InvalidArchive
from store import Gallery, NewFace
from tests.bad_inputs.conftest import record
from tests.bad_inputs.corpus import gallery_checksum, non_utf8_name
from ui.widgets import resources

REFUSED = ("invalid", "no_face", "several")


@pytest.fixture(scope="module")
def pipeline():
    return resources.face_pipeline()


@pytest.fixture(scope="module")
def reference(pipeline, astronaut) -> np.ndarray:
    [face] = pipeline.analyze(astronaut)
    return face.embedding


@pytest.fixture
def seeded(tmp_path, pipeline, reference, grace_hopper):
    """A gallery holding one person, so "nothing lost" has something to lose."""
    data_dir = tmp_path / "data"
    gallery = Gallery(data_dir / "gallery")
    [face] = pipeline.analyze(grace_hopper)
    gallery.enroll("Grace Hopper", NewFace.from_face(face, "0" * 64, pipeline.model_id))
    yield data_dir, gallery
    gallery.close()


def test_the_corpus_is_large_enough(corpus):
    assert len(corpus) >= 30
    kinds = {i.kind for i in corpus}
    assert kinds == {"image", "zip", "pairs"}


@pytest.fixture(scope="module")
def analyses(images, pipeline) -> dict:
    """Each image's faces, or the exception analysing it raised: analysed once, used twice."""
    out = {}
    for item in images:
        try:
            out[item.name] = pipeline.analyze(item.path)
        except Exception as exc:
            out[item.name] = exc
    return out


def _call(result):
    if isinstance(result, Exception):
        raise result
    return result


def test_load_image_and_analyze(images, analyses, reference, seeded):
    """Refused images raise InvalidImage with the expected words; the awkward valid ones
    (CMYK, 16-bit, palette with alpha, animated, EXIF-rotated, …) find the same face."""
    data_dir, gallery = seeded
    before = gallery_checksum(data_dir, gallery)
    problems = []
    for item in images:
        analyze = analyses[item.name]
        for entry, call in (("engine load_image", load_image), ("engine analyze", None)):
            crashed = False
            try:
                out = call(item.path) if call else _call(analyze)
            except InvalidImage as exc:
                if item.expect != "invalid" or item.message.lower() not in str(exc).lower():
                    problems.append(f"{entry} {item.name}: {exc}")
            except Exception as exc:
                crashed = True
                problems.append(f"{entry} {item.name}: crashed {type(exc).__name__}: {exc}")
            else:
                if item.expect == "invalid":
                    problems.append(f"{entry} {item.name}: accepted")
                elif call is load_image:
                    if out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
                        problems.append(f"{entry} {item.name}: {out.dtype} {out.shape}")
                else:
                    count = {"no_face": 0, "several": 20, "ok": 1}[item.expect]
                    if len(out) != count:
                        problems.append(f"{entry} {item.name}: {len(out)} faces, not {count}")
                    elif item.expect == "ok":
                        distance = float(np.linalg.norm(out[0].embedding - reference))
                        if distance > 0.4:  # the same photo, re-encoded: the same person
                            problems.append(f"{entry} {item.name}: distance {distance:.3f}")
            record(entry, crashed=crashed)
    assert gallery_checksum(data_dir, gallery) == before
    assert not problems, "\n".join(problems)


def test_exif_rotation_is_applied_before_detection(images):
    [item] = [i for i in images if i.name == "exif_rotated.jpg"]
    assert load_image(item.path).shape == (512, 512, 3)


def test_enrol_one_photo(images, analyses, pipeline, seeded):
    """The Enroll page's engine calls: a photo is enrolled only when it has a face (the page
    asks which one when there are several); a refused photo leaves the gallery as it was."""
    data_dir, gallery = seeded
    problems = []
    for item in images:
        before = gallery_checksum(data_dir, gallery)
        faces_before = gallery.count_faces()
        crashed = lost = False
        try:
            faces = _call(analyses[item.name])
            if faces:
                sha = hashlib.sha256(item.data).hexdigest()
                new = NewFace.from_face(faces[-1], sha, pipeline.model_id)
                gallery.enroll("Eileen Collins", new, create=True)
        except InvalidImage:
            pass
        except Exception as exc:
            crashed = True
            problems.append(f"{item.name}: crashed {type(exc).__name__}: {exc}")
        if item.expect in ("invalid", "no_face"):
            lost = gallery_checksum(data_dir, gallery) != before
        elif gallery.count_faces() != faces_before + 1:
            lost = True
        if lost:
            problems.append(f"{item.name}: the gallery changed unexpectedly")
        record("engine enrol one photo", crashed=crashed, lost=lost)
    assert [p.name for p in gallery.people()] == ["Eileen Collins", "Grace Hopper"]
    assert not problems, "\n".join(problems)


def test_bulk_enrolment_of_a_folder(images, refused_folder, pipeline, seeded, tmp_path, astronaut):
    data_dir, gallery = seeded
    before = gallery_checksum(data_dir, gallery)
    summary = enroll_folder(pipeline, gallery, refused_folder)
    assert gallery_checksum(data_dir, gallery) == before
    by_name = {o.item.split("/")[-1]: o for o in summary.outcomes}
    wanted = {"invalid": "unreadable", "no_face": "no_face", "several": "several_faces"}
    for item in images:
        if item.expect not in REFUSED:
            continue
        record("engine bulk folder")
        if item.name.endswith(".svg"):  # not an image by its extension: listed as ignored
            assert any(line.startswith("Eileen_Collins/drawing.svg") for line in summary.ignored)
            continue
        outcome = by_name[item.path.name]
        assert outcome.outcome == wanted[item.expect], (item.name, outcome)
        assert item.message.lower() in outcome.reason.lower(), (item.name, outcome.reason)
    assert summary.enrolled == 0

    # A person folder whose name is not UTF-8 on disk: enrolled, the odd byte shown as "�".
    root = tmp_path / "odd"
    root.mkdir()
    folder = non_utf8_name(root, "Ren\udce9e_Smith", "")
    if folder is None:
        pytest.skip("this filesystem refuses non-UTF-8 file names")
    folder.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(folder / "mirror.png")
    summary = enroll_folder(pipeline, gallery, root)
    record("engine bulk folder")
    assert summary.enrolled == 1 and summary.people == ["Ren\ufffde Smith"]
    assert summary.outcomes[0].item == "Ren\ufffde_Smith/mirror.png"


def test_bulk_enrolment_of_zips(zips, pipeline, seeded):
    data_dir, gallery = seeded
    problems = []
    for item in zips:
        before = gallery_checksum(data_dir, gallery)
        crashed = False
        try:
            summary = enroll_folder(pipeline, gallery, item.path)
        except InvalidArchive as exc:
            if item.expect != "refused" or item.message.lower() not in str(exc).lower():
                problems.append(f"{item.name}: {exc}")
        except Exception as exc:
            crashed = True
            problems.append(f"{item.name}: crashed {type(exc).__name__}: {exc}")
        else:
            if item.expect != "partial" or summary.enrolled:
                problems.append(f"{item.name}: accepted {summary.counts}")
        # the uploaded bytes take the same path as a file on disk
        try:
            enroll_folder(pipeline, gallery, item.data)
        except InvalidArchive:
            pass
        except Exception as exc:
            crashed = True
            problems.append(f"{item.name} as bytes: crashed {type(exc).__name__}: {exc}")
        lost = gallery_checksum(data_dir, gallery) != before
        record("engine bulk zip", crashed=crashed, lost=lost)
        if lost:
            problems.append(f"{item.name}: the gallery changed")
    assert not problems, "\n".join(problems)


def test_a_zip_bomb_entry_is_reported_not_inflated(zips, pipeline, seeded):
    [bomb] = [i for i in zips if i.name == "zip_bomb_deflate.zip"]
    summary = enroll_folder(pipeline, seeded[1], bomb.path)
    reasons = {o.item: o.reason for o in summary.outcomes}
    assert "over the 52 MB limit" in reasons["Eileen_Collins/zeros.png"]
    assert summary.unreadable == 2


def test_pairs_files(pairs_files, pipeline, tmp_path):
    problems = []
    for item in pairs_files:
        crashed = False
        try:
            pairs = pairs_from_file(item.path, item.root)
            embedded = embed_pair_set(pipeline, pairs, tmp_path / "cache")
        except (VisionLabError, PairsFileError) as exc:
            if item.message.lower() not in str(exc).lower():
                problems.append(f"{item.name}: {exc}")
        except Exception as exc:
            crashed = True
            problems.append(f"{item.name}: crashed {type(exc).__name__}: {exc}")
        else:  # broken images: embedded as unreadable, their pairs dropped
            if item.name != "pairs_broken_images.txt":
                problems.append(f"{item.name}: accepted")
            elif (embedded.status == UNREADABLE).sum() != 2:
                problems.append(f"{item.name}: statuses {embedded.status_counts()}")
        record("engine pairs_from_file", crashed=crashed)
    assert not problems, "\n".join(problems)
