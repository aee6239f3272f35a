"""The CLI's gallery administration: rename, merge, export and import, on galleries built in
code with synthetic faces (no face model needed). Commands run in-process through ``main`` to
stay fast; one subprocess run checks that a refused import is one line, never a traceback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cli import main
from store import Gallery, NewFace
from store.gallery import DEFAULT_EMBEDDING_DIM, DEFAULT_MODEL_ID

ROOT = Path(__file__).resolve().parents[2]


def _face(rng: np.random.Generator, photo: str) -> NewFace:
    """A synthetic face of the CLI's model: the store checks shapes and types, not faces."""
    return NewFace(
        embedding=rng.normal(0, 0.125, DEFAULT_EMBEDDING_DIM).astype(np.float32),
        chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
        image_sha256=hashlib.sha256(photo.encode()).hexdigest(),
        box=(10.0, 10.0, 109.0, 109.0),
        landmarks=rng.uniform(0, 150, (5, 2)),
        score=1.0,
        model_id=DEFAULT_MODEL_ID,
    )


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder whose gallery holds Ada Lovelace (2 faces), A. Lovelace (1, with notes)
    and Grace Hopper (1). VISIONLAB_DATA is set so monkeypatch restores what ``--data``
    changes in this process."""
    folder = tmp_path / "data"
    monkeypatch.setenv("VISIONLAB_DATA", str(folder))
    rng = np.random.default_rng(0)
    with Gallery(folder / "gallery") as gallery:
        for name, photo in [
            ("Ada Lovelace", "ada 1"),
            ("Ada Lovelace", "ada 2"),
            ("A. Lovelace", "ada 3"),
            ("Grace Hopper", "grace 1"),
        ]:
            gallery.enroll(name, _face(rng, photo))
        gallery.set_notes(gallery.find_person("A. Lovelace").id, "enrolled twice")
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)  # one document: json.loads refuses anything after it


def _one_line_error(result: tuple[int, str, str], expected: str) -> None:
    code, out, err = result
    assert code != 0 and out == ""
    assert err.startswith("error: ") and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _people(capsys: pytest.CaptureFixture[str], folder: Path) -> dict[str, int]:
    listed = _json(capsys, "people", "--data", str(folder))["people"]
    return {p["name"]: p["faces"] for p in listed}


def test_rename_by_name_or_id(data, capsys):
    renamed = _json(capsys, "rename", "grace hopper", "Grace Brewster Hopper", "--data", str(data))
    assert renamed["from"] == "Grace Hopper"
    assert renamed["person"]["name"] == "Grace Brewster Hopper"
    assert renamed["person"]["faces"] == 1

    code, out, err = _run(capsys, "rename", renamed["person"]["id"], "Grace Hopper")
    assert code == 0, err
    assert out == "renamed Grace Brewster Hopper to Grace Hopper\n"
    assert _people(capsys, data) == {"A. Lovelace": 1, "Ada Lovelace": 2, "Grace Hopper": 1}

    _one_line_error(_run(capsys, "rename", "Grace Hopper", "ada LOVELACE"), "already someone")
    _one_line_error(_run(capsys, "rename", "Nobody", "Somebody", "--json"), "no person named")
    _one_line_error(_run(capsys, "rename", "Grace Hopper", "  "), "must not be empty")


def test_merge_moves_every_face_and_removes_the_other(data, capsys):
    merged = _json(capsys, "merge", "Ada Lovelace", "a. lovelace", "--data", str(data))
    assert merged["kept"]["name"] == "Ada Lovelace" and merged["kept"]["faces"] == 3
    assert merged["absorbed"]["name"] == "A. Lovelace" and merged["absorbed"]["faces"] == 1
    assert _people(capsys, data) == {"Ada Lovelace": 3, "Grace Hopper": 1}
    with Gallery(data / "gallery") as gallery:
        ada = gallery.get_person(merged["kept"]["id"])
        assert ada.notes == "enrolled twice"
        assert all(f.chip_path.parent.name == ada.id for f in gallery.faces_of(ada.id))
        assert not (gallery.chips_dir / merged["absorbed"]["id"]).exists()

    code, out, err = _run(capsys, "merge", "Grace Hopper", merged["kept"]["id"])  # by id
    assert code == 0, err
    assert out == (
        "merged Ada Lovelace (3 face(s)) into Grace Hopper, who now has 4 face(s); "
        "Ada Lovelace is removed\n"
    )
    _one_line_error(_run(capsys, "merge", "Grace Hopper", "grace hopper"), "themselves")
    _one_line_error(_run(capsys, "merge", "Grace Hopper", "Nobody", "--json"), "no person named")


def test_export_then_import_into_a_fresh_data_folder(data, tmp_path, capsys):
    archive = tmp_path / "backup.zip"
    exported = _json(capsys, "export", str(archive), "--data", str(data))
    assert exported["export"] == str(archive) and archive.is_file()
    assert exported["model_id"] == DEFAULT_MODEL_ID
    assert (exported["people"], exported["faces"]) == (3, 4)
    assert exported["bytes"] == archive.stat().st_size

    code, out, err = _run(capsys, "export", str(tmp_path))  # a folder: gallery-export.zip
    assert code == 0, err
    assert out.startswith(f"exported 3 people and 4 face(s) of {DEFAULT_MODEL_ID} to ")
    assert "biometric data" in out and (tmp_path / "gallery-export.zip").is_file()

    fresh = tmp_path / "fresh"
    imported = _json(capsys, "import", str(archive), "--data", str(fresh))
    assert imported["gallery"] == str(fresh / "gallery")
    assert (imported["people_created"], imported["people_matched"]) == (3, 0)
    assert (imported["faces_imported"], imported["faces_skipped"]) == (4, 0)
    assert _people(capsys, fresh) == {"A. Lovelace": 1, "Ada Lovelace": 2, "Grace Hopper": 1}

    code, out, err = _run(capsys, "import", str(archive), "--data", str(fresh))  # once more
    assert code == 0, err
    assert out == (
        f"{archive}: imported 0 face(s), skipped 4 already here; 0 new people, "
        "3 matched to people here\n"
    )


def _bad_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", b"{}")
        zf.writestr("../evil.png", b"\x89PNG")
    return path


def test_refused_imports_and_exports_are_one_line_and_change_nothing(data, tmp_path, capsys):
    not_zip = tmp_path / "photos.zip"
    not_zip.write_bytes(b"these are not the bytes of a zip")
    _one_line_error(_run(capsys, "import", str(not_zip), "--json"), "not a readable zip")
    _one_line_error(_run(capsys, "import", str(_bad_zip(tmp_path / "evil.zip"))), "unsafe path")
    missing = _run(capsys, "import", str(tmp_path / "missing.zip"), "--data", str(tmp_path / "x"))
    _one_line_error(missing, "is not a file")
    assert not (tmp_path / "x").exists()  # a typo does not create an empty gallery
    assert _people(capsys, data) == {"A. Lovelace": 1, "Ada Lovelace": 2, "Grace Hopper": 1}

    database = data / "gallery" / "gallery.db"
    before = database.stat().st_size
    _one_line_error(_run(capsys, "export", str(database)), "give a .zip file name")
    assert database.stat().st_size == before


def test_a_refused_import_in_a_real_process_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "cli.py", "import", str(_bad_zip(tmp_path / "evil.zip")), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "VISIONLAB_DATA": str(tmp_path / "data")},
    )
    _one_line_error((result.returncode, result.stdout, result.stderr), "unsafe path")
    assert not (tmp_path / "evil.png").exists()
