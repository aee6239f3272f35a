"""Embedding a pair set: the face nearest the centre (or a centred box for a pairs file), each
image's outcome, the on-disk cache and a cancelled run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from engine.config import Settings
from engine.evaluation.embedding import (
    CENTRED_BOX,
    FACE_FOUND,
    NO_FACE,
    UNREADABLE,
    EmbeddingCancelled,
    embed_pair_set,
)
from engine.evaluation.pair_sets import pairs_from_file, pairs_from_folder
from engine.evaluation.scoring import DistanceScorer
from engine.faces.pipeline import FacePipeline


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    settings = Settings.from_env()
    return FacePipeline.load(device="cpu").with_options(augment=settings.augment)


@pytest.fixture
def lfw_like(tmp_path, astronaut, grace_hopper):
    """An LFW-format root: Eileen twice (one mirrored), Grace, a photo with no face, a file
    that is no image."""
    from skimage import data

    root = tmp_path / "lfw"
    images = {
        "Eileen/Eileen_0001.jpg": astronaut,
        "Eileen/Eileen_0002.jpg": astronaut[:, ::-1],
        "Grace/Grace_0001.jpg": grace_hopper,
        "Coffee/Coffee_0001.jpg": data.coffee(),
    }
    for rel, pixels in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(root / rel, quality=95)
    (root / "Broken").mkdir()
    (root / "Broken" / "Broken_0001.jpg").write_bytes(b"not a jpeg")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "2\nEileen 1 2\nBroken 1 1\nEileen 1 Grace 1\nGrace 1 Coffee 1\n"  # 2 matched, 2 mismatched
    )
    return pairs, root


def test_embedding_a_pair_set_caches_and_cancels(pipeline, lfw_like, tmp_path, monkeypatch):
    pairs_file, root = lfw_like
    pairs = pairs_from_file(pairs_file, root)
    assert pairs.centred_fallback  # LFW's protocol scores every readable pair
    cache = tmp_path / "cache"
    with pytest.raises(EmbeddingCancelled, match="stopped after 0 of 5 images"):
        embed_pair_set(pipeline, pairs, cache, should_stop=lambda: True)
    seen: list[tuple[int, int]] = []
    embedded = embed_pair_set(pipeline, pairs, cache, progress=lambda *p: seen.append(p))
    assert seen[-1] == (5, 5)
    status = dict(zip(pairs.images, embedded.status, strict=True))
    assert status["Eileen/Eileen_0001.jpg"] == FACE_FOUND
    assert status["Coffee/Coffee_0001.jpg"] == CENTRED_BOX
    assert status["Broken/Broken_0001.jpg"] == UNREADABLE
    # Only the pair with the unreadable image is dropped.
    assert embedded.dropped_pairs == 1 and embedded.usable.tolist() == [True, False, True, True]
    a, b = embedded.pair_embeddings()
    distances = DistanceScorer().score(a, b)
    assert distances[0] < 0.3 < 0.6 < distances[1]  # Eileen vs her mirror; Eileen vs Grace

    # A second run reads everything from the cache: the detector is never called.
    def no_detection(*args, **kwargs):
        raise AssertionError("embedded again despite the cache")

    monkeypatch.setattr(pipeline, "analyze_many", no_detection)
    again = embed_pair_set(pipeline, pairs, cache)
    np.testing.assert_array_equal(again.embeddings, embedded.embeddings)
    # So does the same dataset unpacked again elsewhere, with new modification times.
    copy = shutil.copytree(root, tmp_path / "unpacked again")
    moved = embed_pair_set(pipeline, pairs_from_file(pairs_file, copy), cache)
    np.testing.assert_array_equal(moved.embeddings, embedded.embeddings)
    # A changed file is embedded again (its content is the key).
    monkeypatch.undo()
    Image.fromarray(np.ascontiguousarray(np.zeros((64, 64, 3), np.uint8))).save(
        root / "Grace" / "Grace_0001.jpg"
    )
    changed = embed_pair_set(pipeline, pairs, cache)
    assert changed.status[pairs.images.index("Grace/Grace_0001.jpg")] == CENTRED_BOX
    # Folders of arbitrary photos get no centred box: a photo without a face has no embedding.
    folder = pairs_from_folder(root, impostors=0)
    assert not folder.centred_fallback
    strict = embed_pair_set(pipeline, folder, cache)
    assert strict.status[folder.images.index("Coffee/Coffee_0001.jpg")] == NO_FACE
