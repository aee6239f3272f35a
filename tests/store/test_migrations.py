"""The gallery's database schema under Alembic: a fresh gallery is at the newest revision with
exactly ``store.schema``'s tables, a gallery made before Alembic is taken up without losing a
row, and one made by a newer Vision Lab is refused in a sentence, untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from store import Gallery
from store.database import sqlite_url
from store.errors import CorruptStore
from store.migrate import head
from store.schema import metadata
from tests.store.conftest import FaceMaker

BEFORE_ALEMBIC_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (
    model_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    embedding_dim INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    notes TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES collections(model_id),
    embedding BLOB NOT NULL,
    image_sha256 TEXT NOT NULL,
    box_left REAL NOT NULL,
    box_top REAL NOT NULL,
    box_right REAL NOT NULL,
    box_bottom REAL NOT NULL,
    landmarks TEXT NOT NULL,
    score REAL NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_by_person ON faces(person_id);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces(model_id, image_sha256);
"""
"""The tables as ``store/db.py`` created them by hand before Alembic (schema version 1)."""


def _revision(db_path: Path) -> str | None:
    engine = create_engine(sqlite_url(db_path))
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == [], differences  # the migrations make exactly store.schema's tables
    return revision


def test_a_fresh_gallery_is_at_the_newest_revision(tmp_path: Path) -> None:
    Gallery(tmp_path / "g").close()
    assert _revision(tmp_path / "g" / "gallery.db") == head()


def test_a_gallery_made_before_alembic_keeps_its_rows(tmp_path: Path, faces: FaceMaker) -> None:
    folder = tmp_path / "g"
    with Gallery(folder) as gallery:
        ada = gallery.enroll("Ada Lovelace", faces.face("ada")).person
    db_path = folder / "gallery.db"
    with sqlite3.connect(db_path) as old:  # back to how the previous version left it
        old.execute("DROP TABLE alembic_version")
    assert _revision(db_path) is None
    with Gallery(folder) as gallery:
        assert [p.name for p in gallery.people()] == ["Ada Lovelace"]
        assert gallery.get_person(ada.id).face_count == 1
    assert _revision(db_path) == head()


def test_hand_made_tables_of_schema_version_1_are_taken_as_they_are(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    with sqlite3.connect(folder / "gallery.db") as old:
        old.executescript(BEFORE_ALEMBIC_DDL)
        old.execute("INSERT INTO people VALUES ('p1', 'Grace', 'grace', 'kept', '2026-01-01')")
    with Gallery(folder) as gallery:
        [grace] = gallery.people()
        assert (grace.name, grace.notes) == ("Grace", "kept")
    with sqlite3.connect(folder / "gallery.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]


def test_a_newer_program_s_database_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    Gallery(folder).close()
    db_path = folder / "gallery.db"
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00d'")
    before = db_path.read_bytes()
    with pytest.raises(CorruptStore, match="schema revision f00d, newer than this program"):
        Gallery(folder)
    assert db_path.read_bytes() == before
