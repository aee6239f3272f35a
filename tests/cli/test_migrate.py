"""``cli.py migrate``: a SQLite gallery to PostgreSQL and back, nothing changed on the way
(ids, names, notes, dates, every model's faces, embeddings bit for bit, chips byte for byte),
searchable where it lands; and the refusals, each one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from cli import main
from store import Gallery, NewFace
from store.db import FACE_COLUMNS, FACE_KEY, chip_png, stored_embedding
from store.gallery import DEFAULT_EMBEDDING_DIM, DEFAULT_MODEL_ID
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.filterwarnings("ignore:legacy embedding function config")

OTHER_MODEL = "a-trained-head"


def _face(rng: np.random.Generator, photo: str, model_id: str = DEFAULT_MODEL_ID) -> NewFace:
    return NewFace(
        embedding=rng.normal(0, 0.125, DEFAULT_EMBEDDING_DIM).astype(np.float32),
        chip=rng.integers(0, 256, (150, 150, 3), dtype=np.uint8),
        image_sha256=hashlib.sha256(photo.encode()).hexdigest(),
        box=(10.0, 10.0, 109.0, 109.0),
        landmarks=rng.uniform(0, 150, (5, 2)),
        score=0.97,
        model_id=model_id,
    )


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite gallery: three people (one with notes, one with no face), four faces of the
    pretrained model and one of another model."""
    folder = tmp_path / "data"
    monkeypatch.setenv("VISIONLAB_DATA", str(folder))
    monkeypatch.delenv("VISIONLAB_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    rng = np.random.default_rng(0)
    with Gallery(folder / "gallery") as gallery:
        for name, photo in [("Ada Lovelace", "ada 1"), ("Ada Lovelace", "ada 2"),
                            ("Grace Hopper", "grace 1"), ("Zoë O'Brien <b>", "zoe 1")]:  # fmt: skip
            gallery.enroll(name, _face(rng, photo))
        gallery.set_notes(gallery.find_person("Grace Hopper").id, "COBOL; née Murray")
        gallery.add_person("Nobody Yet", notes="no face so far")
    with Gallery(folder / "gallery", OTHER_MODEL) as other:
        other.enroll("Ada Lovelace", _face(rng, "ada 1", OTHER_MODEL))
    return folder


def snapshot(gallery: Gallery) -> dict[str, Any]:
    """Everything the gallery holds, as plain values: rows, embedding bytes, chip bytes."""
    db = gallery._db
    people = sorted(tuple(r) for r in db.execute("SELECT * FROM people").fetchall())
    models = sorted(
        tuple(r) for r in db.execute("SELECT model_id, name, embedding_dim FROM collections")
    )
    faces = {}
    for row in db.execute(f"SELECT embedding, {FACE_KEY}, {FACE_COLUMNS} FROM faces"):
        face_id, person_id = row[2], row[3]
        faces[face_id] = (
            tuple(row[2:]),
            stored_embedding(row[0], row[1], face_id).tobytes(),
            chip_png(gallery, face_id, person_id),
        )
    gallery_id = db.execute("SELECT value FROM meta WHERE key='gallery_id'").scalar_one()
    return {"people": people, "models": models, "faces": faces, "gallery_id": gallery_id}


def _migrate(capsys: pytest.CaptureFixture[str], to: str, *more: str) -> dict[str, Any]:
    code = main(["migrate", "--to", to, "--json", *more])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert err.startswith("error: ") and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_gallery_goes_to_postgresql_and_back_unchanged(
    data: Path,
    postgres: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Gallery(data / "gallery") as original:
        before = snapshot(original)
    assert len(before["faces"]) == 5 and all(f[2] for f in before["faces"].values())

    server = postgres.database()
    there = _migrate(capsys, server)
    assert (there["people"], there["faces"], there["chips"]) == (4, 5, 5)
    assert there["people_open"] == 4 and there["faces_open"] == 4  # the model in use: 4 faces
    # Opened from the data folder, as the app there would: the server database is claimed by
    # this folder's embedded Chroma (store.db.claim_embedded_index).
    with Gallery(data / "gallery", database_url=server) as on_server:
        assert snapshot(on_server) == before
        ada = before["faces"][next(iter(before["faces"]))]
        [match] = on_server.search(np.frombuffer(ada[1], np.float32), k=1)
        assert match.face_id == ada[0][0] and match.distance == 0.0
    with Gallery(data / "gallery") as original:  # the source is left as it was
        assert snapshot(original) == before

    monkeypatch.setenv("VISIONLAB_DATABASE_URL", server)  # now run from the server
    back_folder = tmp_path / "back" / "gallery"
    back = _migrate(capsys, f"sqlite:///{back_folder / 'gallery.db'}")
    assert (back["people"], back["faces"], back["chips"], back["index_restored"]) == (4, 5, 5, 4)
    with Gallery(back_folder) as returned:
        assert snapshot(returned) == before
        assert not returned.reconcile().changed
    chips = {p.name: p.read_bytes() for p in back_folder.glob("chips/*/*.png")}
    assert chips == {f"{face_id}.png": f[2] for face_id, f in before["faces"].items()}


def test_migrate_refuses_a_target_that_holds_a_gallery(
    data: Path, postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = postgres.database()
    _migrate(capsys, server)
    _one_line_error(capsys, ["migrate", "--to", server], "already holds a gallery")
    _one_line_error(
        capsys, ["migrate", "--to", f"sqlite:///{data / 'gallery' / 'gallery.db'}"], "already"
    )
    _one_line_error(capsys, ["migrate", "--to", f"sqlite:///{data / 'elsewhere.sqlite'}"], "chips/")
    _one_line_error(capsys, ["migrate", "--to", "mysql://x@localhost/y"], "runs on SQLite")


def test_a_copy_that_fails_half_way_leaves_the_target_empty(
    data: Path,
    postgres: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import store.relocation

    real_seal, calls = store.relocation.seal, []

    def failing_seal(key: bytes, data: bytes, face_id: str) -> bytes:
        calls.append(face_id)
        if len(calls) == 6:
            raise OSError(28, "No space left on device")
        return real_seal(key, data, face_id)

    monkeypatch.setattr(store.relocation, "seal", failing_seal)
    server = postgres.database()
    _one_line_error(capsys, ["migrate", "--to", server], "")
    monkeypatch.setattr(store.relocation, "seal", real_seal)
    with create_engine(server).connect() as connection:
        for table in ("people", "faces", "face_keys", "chips"):
            assert connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0
    assert _migrate(capsys, server)["faces"] == 5  # and a second try copies everything
