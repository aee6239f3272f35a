"""The CLI on every bad input: faces, identify, verify (images), enroll and import (zips and a
folder), evaluate (pairs files). A refusal is one ``error: …`` line on stderr and exit 1, never a
traceback or exit 2 ("unexpected"); the gallery's checksum is unchanged by what is refused.

The commands run in-process (``cli.main``) on one shared pipeline that remembers each image's
faces, so 160 runs take seconds. pytest's captured stdout is strict UTF-8, as a terminal's is:
printing the non-UTF-8 file name there is the same test as in a real process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli
from cli.context import CommandContext
from engine.images import load_image
from store import Gallery, NewFace
from tests.bad_inputs.conftest import record
from tests.bad_inputs.corpus import gallery_checksum, non_utf8_name
from ui.widgets import resources


class RememberingPipeline:
    """The app's pipeline, analysing each distinct image once (the CLI is under test here, the
    pipeline in test_engine.py)."""

    def __init__(self, pipeline) -> None:
        self._pipeline = pipeline
        self._faces: dict[str, list] = {}

    def __getattr__(self, name: str):
        return getattr(self._pipeline, name)

    def analyze(self, source, **kwargs):
        image = load_image(source)  # a bad file fails here, as in the real pipeline
        key = hashlib.sha256(image.tobytes() + repr((image.shape, kwargs)).encode()).hexdigest()
        if key not in self._faces:
            self._faces[key] = self._pipeline.analyze(image, **kwargs)
        return self._faces[key]


@pytest.fixture(scope="module")
def pipeline():
    return RememberingPipeline(resources.face_pipeline())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, pipeline, astronaut, grace_hopper) -> Path:
    """A gallery with Eileen Collins and Grace Hopper, used by every command here."""
    data = tmp_path_factory.mktemp("cli") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VISIONLAB_DATA", str(data))
        patch.setattr(CommandContext, "pipeline", lambda self, base=False: pipeline)
        with Gallery(data / "gallery") as gallery:
            for name, photo, sha in (
                ("Eileen Collins", astronaut, "a"),
                ("Grace Hopper", grace_hopper, "b"),
            ):
                [face] = pipeline.analyze(photo)
                gallery.enroll(name, NewFace.from_face(face, sha * 64, pipeline.model_id))
        yield data


@pytest.fixture(scope="module")
def reference(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("ref") / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


def _run(capsys, entry: str, *args: str, count: bool = True) -> tuple[int, str, str, list[str]]:
    """Run one command; return (exit code, stdout, stderr, problems) and count it (unless the
    caller counts it itself, with the gallery checksum)."""
    problems = []
    try:
        code = cli.main([*args])
    except BaseException as exc:
        code = -1
        problems.append(f"raised {type(exc).__name__}: {exc}")
    out, err = capsys.readouterr()
    if code not in (0, 1) or "Traceback" in err:
        problems.append(f"exit {code}: {err.strip()[:200]}")
    if code == 1 and not (err.startswith("error: ") and len(err.strip().splitlines()) == 1):
        problems.append(f"not one error line: {err!r}")
    if count:
        record(entry, crashed=bool(problems))
    return code, out, err, [f"{entry} {' '.join(args[1:2])}: {p}" for p in problems]


def _refused(entry: str, code: int, out: str, err: str, message: str) -> list[str]:
    if code != 1 or out or message.lower() not in err.lower():
        return [f"{entry}: expected a refusal mentioning {message!r}, got {code} {out!r} {err!r}"]
    return []


def test_image_commands(capsys, images, data_dir, reference):
    before = gallery_checksum(data_dir)
    problems: list[str] = []
    for item in images:
        path = str(item.path)
        code, out, err, bad = _run(capsys, "cli faces", "faces", path)
        problems += bad
        if item.expect == "invalid":
            problems += _refused(f"faces {item.name}", code, out, err, item.message)
        else:
            count = {"no_face": 0, "several": 20, "ok": 1}[item.expect]
            if code != 0 or f": {count} face(s)" not in out or err:
                problems.append(f"faces {item.name}: {code} {out!r} {err!r}")

        code, out, err, bad = _run(capsys, "cli identify", "identify", path, "--json")
        problems += bad
        if item.expect == "invalid":
            problems += _refused(f"identify {item.name}", code, out, err, item.message)
        elif item.expect == "no_face":
            problems += _refused(f"identify {item.name}", code, out, err, "no face was found")
        elif code != 0 or ('"name": "Eileen Collins"' not in out):
            problems.append(f"identify {item.name}: {code} {out[:200]!r} {err!r}")

        code, out, err, bad = _run(capsys, "cli verify", "verify", path, str(reference))
        problems += bad
        if item.expect == "invalid":
            problems += _refused(f"verify {item.name}", code, out, err, item.message)
        elif item.expect == "no_face":
            problems += _refused(f"verify {item.name}", code, out, err, "no face was found")
        elif code != 0 or not out.startswith("same person"):
            problems.append(f"verify {item.name}: {code} {out!r} {err!r}")
    lost = gallery_checksum(data_dir) != before
    assert not lost, "identify / verify / faces changed the gallery"
    assert not problems, "\n".join(problems)


def test_enroll_and_import_refuse_bad_zips_and_images(capsys, zips, refused_folder, data_dir):
    problems: list[str] = []
    for item in zips:
        for entry in ("enroll", "import"):
            before = gallery_checksum(data_dir)
            code, out, err, bad = _run(capsys, "", entry, str(item.path), count=False)
            problems += bad
            if item.expect == "refused" or entry == "import":
                message = item.message if entry == "enroll" else ""
                problems += _refused(f"{entry} {item.name}", code, out, err, message)
            elif code != 0 or "enrolled 0" not in out:
                problems.append(f"{entry} {item.name}: {code} {out!r} {err!r}")
            lost = gallery_checksum(data_dir) != before
            if lost:
                problems.append(f"{entry} {item.name}: the gallery changed")
            record(f"cli {entry}", crashed=bool(bad), lost=lost)
    before = gallery_checksum(data_dir)
    code, out, err, bad = _run(capsys, "cli enroll", "enroll", str(refused_folder))
    problems += bad
    assert code == 0 and "enrolled 0" in out and "unreadable 9" in out, (out, err)
    assert "twenty_faces.png: several faces (20 faces" in out
    assert gallery_checksum(data_dir) == before
    assert not problems, "\n".join(problems)


def test_evaluate_refuses_bad_pairs_files(capsys, pairs_files, data_dir):
    problems: list[str] = []
    for item in pairs_files:
        args = ("evaluate", "--pairs", str(item.path), "--root", str(item.root))
        code, out, err, bad = _run(capsys, "cli evaluate", *args)
        problems += bad + _refused(f"evaluate {item.name}", code, out, err, item.message)
    assert not problems, "\n".join(problems)


def test_enroll_a_person_folder_whose_name_is_not_utf8(capsys, tmp_path, data_dir, astronaut):
    folder = non_utf8_name(tmp_path, "Ren\udce9e_Smith", "")
    if folder is None:
        pytest.skip("this filesystem refuses non-UTF-8 file names")
    folder.mkdir()
    Image.fromarray(np.ascontiguousarray(astronaut[::-1])).save(folder / "upside_down.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(folder / "mirror.png")
    code, out, err, bad = _run(capsys, "cli enroll", "enroll", str(tmp_path))
    assert not bad and code == 0, (out, err)
    assert ": 2 images: enrolled 1," in out and "no face 1" in out
    assert "Ren\ufffde_Smith/upside_down.png: no face" in out
    code, out, err, bad = _run(capsys, "cli people", "people")
    assert "Ren\ufffde Smith" in out and not bad
