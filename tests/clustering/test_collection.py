"""Collection → faces: every face of every photo (a zip, a folder, uploads), the face cache,
unreadable and ignored files, cancel; then the faces clustered into their people."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from engine.clustering import ClusterOptions, cluster_embeddings, collect_faces
from engine.clustering.collection import TooManyFaces
from engine.config import Settings
from engine.evaluation.embedding import EmbeddingCancelled
from engine.faces.pipeline import FacePipeline
from engine.safe_zip import ArchiveLimits, InvalidArchive


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.load(device="cpu").with_options(augment=Settings.from_env().augment)


def jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(out, format="JPEG", quality=95)
    return out.getvalue()


@pytest.fixture(scope="module")
def photos(astronaut, grace_hopper) -> dict[str, bytes]:
    """Eileen twice (once mirrored), Eileen and Grace side by side in one photo, a photo with
    no face, a broken file, a text file and a hidden file."""
    h = min(astronaut.shape[0], grace_hopper.shape[0])
    both = np.concatenate([astronaut[:h], grace_hopper[:h]], axis=1)
    return {
        "trip/eileen.jpg": jpeg(astronaut),
        "trip/eileen_mirrored.jpg": jpeg(astronaut[:, ::-1]),
        "trip/together.jpg": jpeg(both),
        "trip/sky.jpg": jpeg(np.full((200, 300, 3), 180, np.uint8)),
        "trip/broken.jpg": b"not a jpeg",
        "trip/notes.txt": b"hello",
        "trip/.hidden.jpg": jpeg(astronaut),
    }


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def test_every_face_of_every_photo_then_two_people(pipeline, photos, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    collection = collect_faces(pipeline, zipped(photos), cache_dir=cache)
    assert collection.photos == 5
    assert [f.face_id for f in collection.faces] == [
        "trip/eileen.jpg#0",
        "trip/eileen_mirrored.jpg#0",
        "trip/together.jpg#0",
        "trip/together.jpg#1",
    ]
    assert collection.no_face == ("trip/sky.jpg",)
    assert [name for name, _ in collection.unreadable] == ["trip/broken.jpg"]
    assert sorted(collection.ignored) == [
        "trip/.hidden.jpg: hidden or system file",
        "trip/notes.txt: not an image file (by its extension)",
    ]
    face = collection.faces[0]
    assert face.chip.shape == (150, 150, 3) and face.embedding.shape == (128,)
    assert face.as_face().embedding is face.embedding

    clustering = cluster_embeddings(
        collection.embeddings, collection.face_ids, ClusterOptions(threshold=0.5)
    )
    groups = sorted(sorted(c.face_ids) for c in clustering.clusters + clustering.singletons)
    eileen = ["trip/eileen.jpg#0", "trip/eileen_mirrored.jpg#0"]
    together = [f for f in collection.face_ids if f.startswith("trip/together")]
    assert len(groups) == 2 and any(set(eileen) < set(g) for g in groups)
    assert all(len(set(together) & set(g)) == 1 for g in groups)

    # A second run finds every face in the cache: no detection, no embedding, same vectors.
    def no_analysis(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(FacePipeline, "analyze_many", no_analysis)
    again = collect_faces(pipeline, zipped(photos), cache_dir=cache, keep_chips=False)
    np.testing.assert_array_equal(again.embeddings, collection.embeddings)
    assert again.faces[0].chip is None


def test_folder_and_uploads_and_cancel(pipeline, photos, tmp_path):
    folder = tmp_path / "photos"
    for name in ("trip/eileen.jpg", "trip/sky.jpg"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(photos[name])
    from_folder = collect_faces(pipeline, folder)
    assert from_folder.face_ids == ("trip/eileen.jpg#0",)
    uploads = [("eileen.jpg", photos["trip/eileen.jpg"]), ("a.txt", b"x")]
    from_uploads = collect_faces(pipeline, uploads, keep_chips=False)
    assert from_uploads.face_ids == ("eileen.jpg#0",) and len(from_uploads.ignored) == 1
    with pytest.raises(EmbeddingCancelled, match="stopped after 0 of 2 photos"):
        collect_faces(pipeline, folder, should_stop=lambda: True)


def test_bounds(pipeline, photos, tmp_path):
    with pytest.raises(InvalidArchive, match="over the limit of 1"):
        collect_faces(pipeline, zipped(photos), limits=ArchiveLimits(max_entries=1))
    with pytest.raises(
        TooManyFaces, match=r"more faces than one clustering here takes \(1\): cluster it in parts"
    ):
        collect_faces(pipeline, [("together.jpg", photos["trip/together.jpg"])], max_faces=1)
    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("../evil.jpg", photos["trip/eileen.jpg"])
    with pytest.raises(InvalidArchive, match="points outside the archive"):
        collect_faces(pipeline, slip.getvalue())
    with pytest.raises(InvalidArchive, match="no such folder"):
        collect_faces(pipeline, tmp_path / "missing")
