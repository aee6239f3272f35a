"""The gallery on a real PostgreSQL server (``VISIONLAB_DATABASE_URL``): the same promises as
on SQLite for enrol, search, rename, notes, merge and delete, names unique ignoring case, an
enrol that fails half-way leaves nothing, the schema from Alembic, and the advisory lock that
serialises writers. Several instances on one database (with a Chroma server): ``test_servers``."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from engine.config import Settings
from store import Gallery, NameTaken, StoreUnavailable
from store.errors import GalleryError
from store.locking import DatabaseLock
from store.migrate import head
from store.schema import metadata
from tests.postgres_server import PostgresServer
from tests.store.conftest import FaceMaker, assert_consistent


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.database()


@pytest.fixture
def open_on(tmp_path: Path, database: str):
    opened: list[Gallery] = []

    def make(name: str = "g", **kwargs: object) -> Gallery:
        gallery = Gallery(tmp_path / name, database_url=database, **kwargs)  # type: ignore[arg-type]
        opened.append(gallery)
        return gallery

    yield make
    for gallery in opened:
        gallery.close()


def test_enrol_search_rename_merge_delete(open_on, faces: FaceMaker) -> None:
    gallery = open_on()
    assert gallery.db_path is None and "postgresql" in gallery.database_label
    first = faces.face("ada")
    ada = gallery.enroll("Ada Lovelace", first).person
    gallery.enroll("Ada Lovelace", faces.face("ada"))
    grace = gallery.enroll("Grace Hopper", faces.face("grace")).person
    assert gallery.enroll("ada lovelace", first).status == "duplicate"
    [match] = gallery.search(faces.embedding("ada"), k=1)
    assert match.person.id == ada.id and match.distance < 0.6
    with pytest.raises(NameTaken):
        gallery.rename(grace.id, "ADA  lovelace")
    gallery.rename(ada.id, "Ada King")
    gallery.set_notes(ada.id, "Countess of Lovelace")
    kept = gallery.merge(ada.id, gallery.add_person("Augusta Ada").id)
    assert (kept.name, kept.notes, kept.face_count) == ("Ada King", "Countess of Lovelace", 2)
    gallery.delete_person(ada.id)
    assert [p.name for p in gallery.people()] == ["Grace Hopper"]
    assert_consistent(gallery)


def test_the_schema_is_alembic_s_newest(open_on, database: str) -> None:
    open_on().close()
    engine = create_engine(database)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == head()
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_a_failed_enrol_leaves_nothing(open_on, faces: FaceMaker, monkeypatch) -> None:
    gallery = open_on()
    gallery.enroll("Grace Hopper", faces.face("grace"))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Chroma went away")

    monkeypatch.setattr(gallery._index, "add", broken)
    with pytest.raises(RuntimeError, match="Chroma went away"):
        gallery.enroll("Ada Lovelace", faces.face("ada"))
    monkeypatch.undo()
    assert [p.name for p in gallery.people()] == ["Grace Hopper"]
    assert not gallery._db.in_transaction
    assert_consistent(gallery)


def test_a_held_advisory_lock_times_out_in_a_sentence(database: str) -> None:
    holder = DatabaseLock(create_engine(database, isolation_level="AUTOCOMMIT"))
    other = DatabaseLock(create_engine(database, isolation_level="AUTOCOMMIT"), timeout_s=0.2)
    with holder.exclusive(), pytest.raises(StoreUnavailable, match="for over 0 s"):
        other.shared().__enter__()
    with other.shared():  # released with the holder's block
        pass
    holder.close()
    other.close()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@127.0.0.1/db", "names a mysql database"),
    ],
)
def test_a_wrong_database_url_is_a_sentence(tmp_path: Path, monkeypatch, url: str, said) -> None:
    monkeypatch.setenv("VISIONLAB_DATABASE_URL", url)
    settings = Settings.from_env().with_data_dir(tmp_path)
    with pytest.raises(GalleryError, match=said):
        Gallery.open(settings)
