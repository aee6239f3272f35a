"""The gallery against a real ``chroma run`` server on 127.0.0.1, started by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import Settings
from store import CorruptStore, Gallery
from tests.chroma_server import ChromaServer
from tests.store.conftest import FaceMaker, assert_consistent


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "db").start()
    try:
        yield server.host, server.port
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore:legacy embedding function config")
def test_gallery_on_a_chroma_server(
    chroma_server: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chromadb

    from store.index import chroma_settings

    host, port = chroma_server
    monkeypatch.setenv("CHROMA_HOST", host)
    monkeypatch.setenv("CHROMA_PORT", str(port))
    settings = Settings.from_env().with_data_dir(tmp_path)
    faces = FaceMaker(seed=3)
    with Gallery.open(settings) as gallery:
        assert gallery.location.startswith(f"Chroma at {host}:{port}")
        assert gallery.chroma_dir is None and not (tmp_path / "gallery" / "chroma").exists()
        ada = gallery.enroll("Ada", faces.face("ada"))
        gallery.enroll("Ada", faces.face("ada"))
        grace = gallery.enroll("Grace", faces.face("grace"))
        assert gallery.search(faces.embedding("grace"), k=1)[0].face_id == grace.face_id
        assert [m.person.name for m in gallery.nearest_people(faces.embedding("ada"))] == [
            "Ada",
            "Grace",
        ]
        gallery.delete_person(ada.person.id)
        assert_consistent(gallery, {grace.face_id})

    # What the server itself holds, seen by a separate client.
    client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings())
    collection = client.get_collection("faces__dlib-resnet-v1", embedding_function=None)
    assert collection.get(include=[])["ids"] == [grace.face_id]
    assert collection.configuration["hnsw"]["ef_search"] == 256

    with Gallery.open(settings) as reopened:
        assert not reopened.last_reconcile.changed
        assert reopened.count_faces() == 1

    # Another gallery folder must not adopt (and "reconcile" away) this gallery's embeddings.
    with pytest.raises(CorruptStore, match="belongs to another gallery"):
        Gallery(tmp_path / "other", chroma_host=host, chroma_port=port)
    assert collection.count() == 1
