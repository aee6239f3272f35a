"""Export a gallery to a zip and import it back; refuse archives that are unsafe or foreign."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from store import Gallery, InvalidExport, ModelMismatch
from tests.store.conftest import FaceMaker, assert_consistent, chip_files


@pytest.fixture
def exported(open_gallery, faces: FaceMaker, tmp_path: Path) -> tuple[Gallery, Path]:
    source = open_gallery(tmp_path / "source")
    ada = source.add_person("Ada Lovelace", notes="Analytical Engine")
    for _ in range(3):
        source.enroll(ada, faces.face("ada"))
    source.enroll("Grace Hopper", faces.face("grace"))
    source.add_person("Alan Turing")  # no faces yet
    return source, source.export_zip(tmp_path / "export.zip")


def _snapshot(gallery: Gallery) -> dict:
    """Everything an export must carry, in a comparable form."""
    people = {}
    for p in gallery.people():
        faces = []
        for f in gallery.faces_of(p.id):
            faces.append(
                (
                    f.id,
                    f.image_sha256,
                    f.box,
                    json.dumps(f.landmarks),
                    f.score,
                    f.created,
                    np.asarray(Image.open(f.chip_path)).tobytes(),
                )
            )
        embeddings = gallery.person_embeddings(p.id).tobytes()
        people[p.id] = (p.name, p.notes, p.created, faces, embeddings)
    return people


def test_export_import_round_trip(exported, open_gallery, tmp_path: Path, faces) -> None:
    source, archive = exported
    target = open_gallery(tmp_path / "target")
    summary = target.import_zip(archive)
    assert (summary.people_created, summary.people_matched) == (3, 0)
    assert (summary.faces_imported, summary.faces_skipped) == (4, 0)
    assert _snapshot(target) == _snapshot(source)  # ids, metadata, chips, embeddings equal
    probe = faces.embedding("ada")
    assert [(m.face_id, m.distance) for m in target.search(probe, k=4)] == [
        (m.face_id, m.distance) for m in source.search(probe, k=4)
    ]
    assert_consistent(target)


def test_import_again_skips_everything(exported) -> None:
    source, archive = exported
    before = _snapshot(source)
    summary = source.import_zip(archive)
    assert (summary.people_created, summary.people_matched) == (0, 3)
    assert (summary.faces_imported, summary.faces_skipped) == (0, 4)
    assert _snapshot(source) == before


def test_import_matches_people_by_name(exported, open_gallery, tmp_path: Path, faces) -> None:
    _, archive = exported
    target = open_gallery(tmp_path / "target")
    mine = target.enroll("ada lovelace", faces.face("ada")).person
    summary = target.import_zip(archive)
    assert summary.people_matched == 1 and summary.people_created == 2
    assert target.get_person(mine.id).face_count == 4
    assert target.count_people() == 3


def test_export_into_a_folder(exported, tmp_path: Path) -> None:
    source, _ = exported
    folder = tmp_path / "backups"
    folder.mkdir()
    path = source.export_zip(folder)
    assert path == folder / "gallery-export.zip"
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["model_id"] == "dlib-resnet-v1" and manifest["embedding_dim"] == 128
        assert manifest["faces"] == 4 and manifest["people"] == 3
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 4
    assert not list(folder.glob(".tmp-*"))


def _rewrite(archive: Path, out: Path, edit) -> Path:
    """Copy an export, letting ``edit(name, data)`` change, drop (None) or add members."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        members = {name: src.read(name) for name in src.namelist()}
        for name, data in edit(members).items():
            dst.writestr(name, data)
    return out


def _assert_nothing_imported(target: Gallery, tmp_path: Path) -> None:
    assert target.count_people() == 0 and target.count_faces() == 0
    assert chip_files(target) == set() and target._index.count() == 0
    assert not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize("bad_name", ["../evil.png", "chips/../../evil.png", "/tmp/evil.png"])
def test_import_refuses_path_traversal(
    exported, open_gallery, tmp_path: Path, bad_name: str
) -> None:
    _, archive = exported
    bad = _rewrite(archive, tmp_path / "bad.zip", lambda m: {**m, bad_name: b"\x89PNG"})
    target = open_gallery(tmp_path / "target")
    with pytest.raises(InvalidExport, match="unsafe path"):
        target.import_zip(bad)
    _assert_nothing_imported(target, tmp_path)


def test_import_refuses_traversal_hidden_in_the_records(
    exported, open_gallery, tmp_path: Path
) -> None:
    """A person id becomes a folder name: '../..' there must not reach the disk either."""
    _, archive = exported

    def edit(members: dict[str, bytes]) -> dict[str, bytes]:
        people = json.loads(members["people.json"])
        people[0]["id"] = "../../evil"
        members["people.json"] = json.dumps(people).encode()
        manifest = json.loads(members["manifest.json"])
        import hashlib

        manifest["files"]["people.json"] = hashlib.sha256(members["people.json"]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
        return members

    bad = _rewrite(archive, tmp_path / "bad.zip", edit)
    target = open_gallery(tmp_path / "target")
    with pytest.raises(InvalidExport, match="person record is malformed"):
        target.import_zip(bad)
    _assert_nothing_imported(target, tmp_path)


def test_import_refuses_another_models_export(open_gallery, tmp_path: Path) -> None:
    vgg = open_gallery(tmp_path / "vgg", model_id="vgg-face", embedding_dim=512)
    maker = FaceMaker()
    vgg.enroll("Ada", maker.face("ada", model_id="vgg-face", dim=512))
    archive = vgg.export_zip(tmp_path / "vgg.zip")
    target = open_gallery(tmp_path / "target")
    with pytest.raises(ModelMismatch, match="'vgg-face' embeddings"):
        target.import_zip(archive)
    _assert_nothing_imported(target, tmp_path)


def test_import_refuses_a_damaged_member(exported, open_gallery, tmp_path: Path) -> None:
    _, archive = exported

    def edit(members: dict[str, bytes]) -> dict[str, bytes]:
        name = next(n for n in members if n.endswith(".png"))
        members[name] = members[name][:-8] + b"tampered"
        return members

    target = open_gallery(tmp_path / "target")
    with pytest.raises(InvalidExport, match="checksum"):
        target.import_zip(_rewrite(archive, tmp_path / "bad.zip", edit))
    _assert_nothing_imported(target, tmp_path)


def test_import_refuses_a_zip_bomb(exported, open_gallery, tmp_path: Path) -> None:
    _, archive = exported
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("faces.json.pad", b"\0" * (16 << 20))  # 16 MiB deflating ~1000×
    target = open_gallery(tmp_path / "target")
    with pytest.raises(InvalidExport, match="too compressed"):
        target.import_zip(bomb)
    _assert_nothing_imported(target, tmp_path)


def test_import_refuses_what_is_not_an_export(open_gallery, tmp_path: Path) -> None:
    target = open_gallery(tmp_path / "target")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InvalidExport, match="not a readable zip"):
        target.import_zip(junk)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something else"}))
    with pytest.raises(InvalidExport, match="not a Vision Lab gallery export"):
        target.import_zip(tmp_path / "other.zip")
