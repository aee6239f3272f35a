"""Loading a ``<person>/<images>`` folder into (embeddings, labels) for head training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.config import Settings
from engine.evaluation.embedding import EmbeddingCancelled
from engine.evaluation.pair_sets import DatasetError
from engine.faces.pipeline import FacePipeline
from engine.training.data import list_images, load_training_set, read_people_file


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    settings = Settings.from_env()
    return FacePipeline.load(device="cpu").with_options(augment=settings.augment)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """Eileen twice (as is, mirrored), Grace once, and a faceless grey image in Grace's folder."""
    root = tmp_path_factory.mktemp("people")
    images = {
        "Eileen/a.jpg": astronaut,
        "Eileen/b.jpg": astronaut[:, ::-1],
        "Grace/a.jpg": grace_hopper,
        "Grace/blank.png": np.full((200, 200, 3), 128, dtype=np.uint8),
    }
    for relative, pixels in images.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(path)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_labels_embeddings_and_skips(pipeline, folder, cache):
    seen: list[tuple[int, int]] = []
    data = load_training_set(pipeline, folder, cache, progress=lambda *p: seen.append(p))
    assert data.images == ("Eileen/a.jpg", "Eileen/b.jpg", "Grace/a.jpg")
    assert data.people == ("Eileen", "Grace")
    assert data.labels.tolist() == [0, 0, 1]
    assert data.embeddings.shape == (3, 128) and data.embeddings.dtype == np.float32
    assert data.listed_images == 4
    assert data.skipped == {"no face found": 1}
    assert seen[-1] == (4, 4)
    d = np.linalg.norm(data.embeddings[:, None] - data.embeddings[None], axis=-1)
    assert d[0, 1] < 0.6 < min(d[0, 2], d[1, 2])  # the mirror is the same person
    pairs = data.pairs()
    assert (pairs.pairs.genuine, pairs.pairs.impostors) == (1, 2)

    # Triplets need two images with a face: Grace drops out (from the cache, no re-embedding).
    strict = load_training_set(pipeline, folder, cache, min_images=2, should_stop=lambda: True)
    assert strict.people == ("Eileen",) and strict.labels.tolist() == [0, 0]
    assert strict.skipped == {
        "no face found": 1,
        "person with fewer than 2 images with a face": 1,
    }


def test_people_file_filters_and_stop_is_honoured(pipeline, folder, tmp_path):
    people = tmp_path / "peopleDevTrain.txt"
    people.write_text("1\nEileen\t2\n")
    assert read_people_file(people) == ["Eileen"]
    assert list_images(folder, read_people_file(people)) == ["Eileen/a.jpg", "Eileen/b.jpg"]
    with pytest.raises(EmbeddingCancelled):  # an empty cache: the stop is asked before embedding
        load_training_set(
            pipeline, folder, tmp_path / "c", people_file=people, should_stop=lambda: True
        )
    assert list_images(folder, max_images=3) == ["Eileen/a.jpg", "Eileen/b.jpg"]  # whole people


def test_bad_inputs(folder, tmp_path):
    with pytest.raises(DatasetError, match="no image folder"):
        list_images(tmp_path / "missing")
    bad = tmp_path / "people.txt"
    bad.write_text("2\nEileen\t2\n")
    with pytest.raises(DatasetError, match="says 2 people, lists 1"):
        read_people_file(bad)
    nobody = tmp_path / "nobody.txt"
    nobody.write_text("1\nZed\t3\n")
    with pytest.raises(DatasetError, match="none of the 1 listed people"):
        list_images(folder, read_people_file(nobody))
    with pytest.raises(DatasetError, match="no images"):
        list_images(folder, min_images=3)
