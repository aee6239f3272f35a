"""Indexing: top-k equals a brute-force recomputation; resume equals one run; bad input fails
with typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.images import load_image
from engine.neurons.backbones import Backbone
from engine.neurons.errors import (
    ChannelOutOfRange,
    IndexMismatch,
    NoImagesFound,
    NotAnIndex,
    UnknownLayer,
)
from engine.neurons.index import build_index, list_images, load_index
from engine.neurons.topk import ChannelTopK

VGG_LAYERS = ["conv1_1", "relu2_2", "relu3_3"]


def _brute_force(backbone: Backbone, folder: Path, layer: str, k: int, limit: int | None = None):
    """Every image alone through the network; the full (images × channels) table of spatial
    maxima sorted per channel — O(images) memory, the thing the index must equal."""
    maps = []
    for path in list_images(folder)[:limit]:
        x = backbone.to_tensor(backbone.prepare(load_image(path))[None])
        with torch.inference_mode():
            maps.append(backbone(x, [layer])[layer][0].numpy())
    maps = np.stack(maps)  # (N, C, H, W)
    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    best, where = flat.max(axis=2), flat.argmax(axis=2)  # (N, C)
    order = np.argsort(-best, axis=0, kind="stable")[:k]  # ties: lower image id first
    values = np.take_along_axis(best, order, axis=0).T
    positions = np.take_along_axis(where, order, axis=0).T
    return values, order.T, positions // w, positions % w, maps.mean(axis=0)


@pytest.fixture(scope="module")
def vgg_index(vgg_backbone, image_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("vgg-index")
    return build_index(vgg_backbone, image_folder, out, VGG_LAYERS, k=5, batch_size=5)


@pytest.mark.parametrize("layer", VGG_LAYERS)
def test_vgg_topk_equals_brute_force(vgg_backbone, image_folder, vgg_index, layer) -> None:
    values, images, ys, xs, mean = _brute_force(vgg_backbone, image_folder, layer, k=5)
    top = vgg_index.layer(layer).top
    np.testing.assert_allclose(top.values, values, rtol=1e-4, atol=1e-3)
    # Positions and images must agree wherever the value is not a near-tie (a batch of 5 and
    # a batch of 1 differ by float rounding).
    gaps = np.abs(np.diff(values, axis=1, prepend=np.inf, append=-np.inf))
    clear = np.minimum(gaps[:, :-1], gaps[:, 1:]) > 1e-3 * np.abs(values).max()
    assert clear.mean() > 0.5
    assert (top.images == images)[clear].all()
    assert ((top.ys == ys) & (top.xs == xs))[clear].all()
    np.testing.assert_allclose(
        [vgg_index.layer(layer).mean_map(c) for c in range(top.values.shape[0])],
        mean,
        rtol=1e-4,
        atol=1e-3,
    )


def test_face_topk_equals_brute_force(face_backbone, image_folder, tmp_path) -> None:
    index = build_index(face_backbone, image_folder, tmp_path, ["res3c", "down1"], k=4, limit=6)
    for layer in ("res3c", "down1"):
        values, images, *_ = _brute_force(face_backbone, image_folder, layer, k=4, limit=6)
        np.testing.assert_allclose(index.layer(layer).top.values, values, rtol=1e-4, atol=1e-4)
        assert (index.layer(layer).top.images[:, 0] == images[:, 0]).mean() > 0.9


def test_topk_merge_is_exact_and_order_independent() -> None:
    """Batches of any size, merged in order, give the sorted top-k of the whole table; equal
    values keep the lower image id first."""
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 6, size=(23, 3, 4, 5)).astype(np.float32)  # many exact ties
    flat = acts.reshape(23, 3, 20)
    expected = np.argsort(-flat.max(axis=2), axis=0, kind="stable")[:7].T
    for batch in (1, 4, 23):
        top = ChannelTopK(3, 7)
        for start in range(0, 23, batch):
            chunk = torch.from_numpy(acts[start : start + batch])
            top.update(chunk, torch.arange(start, start + len(chunk)))
        arrays = top.arrays()
        np.testing.assert_array_equal(arrays.images, expected)
        first = flat[arrays.images, np.arange(3)[:, None]].argmax(axis=2)  # first max, row-major
        np.testing.assert_array_equal(arrays.ys * 5 + arrays.xs, first)
    halves = ChannelTopK(3, 7), ChannelTopK(3, 7)
    halves[0].update(torch.from_numpy(acts[:10]), torch.arange(10))
    halves[1].update(torch.from_numpy(acts[10:]), torch.arange(10, 23))
    halves[0].merge(halves[1])
    np.testing.assert_array_equal(halves[0].arrays().images, expected)


def test_fewer_images_than_k_leaves_empty_slots(face_backbone, image_folder, tmp_path) -> None:
    index = build_index(face_backbone, image_folder, tmp_path, ["conv1"], k=20, limit=3)
    assert index.complete and index.done == 3
    assert (index.layer("conv1").top.images[:, 3:] == -1).all()
    assert len(index.hits("conv1", 0)) == 3


def test_resume_gives_the_same_index_as_one_run(
    vgg_backbone, image_folder, vgg_index, tmp_path
) -> None:
    seen = []
    stops = iter([False, False, True])
    stopped = build_index(
        vgg_backbone,
        image_folder,
        tmp_path,
        VGG_LAYERS,
        k=5,
        batch_size=3,
        progress=lambda done, total: seen.append((done, total)),
        should_stop=lambda: next(stops),
    )
    assert not stopped.complete and stopped.done == 6 and seen == [(3, 12), (6, 12)]
    on_disk = load_index(tmp_path)
    assert on_disk.done == 6 and not on_disk.complete
    # A fresh process would resume from disk: a different batch size changes nothing.
    resumed = build_index(vgg_backbone, image_folder, tmp_path, VGG_LAYERS, k=5, batch_size=4)
    assert resumed.complete and resumed.done == 12
    again = load_index(tmp_path)
    for layer in VGG_LAYERS:
        for got in (resumed.layer(layer), again.layer(layer)):
            want = vgg_index.layer(layer)
            np.testing.assert_allclose(got.top.values, want.top.values, rtol=1e-5, atol=1e-4)
            assert (got.top.images == want.top.images).mean() > 0.97
            np.testing.assert_allclose(got.map_sum, want.map_sum, rtol=1e-5, atol=1e-2)
            assert got.counted == want.counted == 12
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["model"] == "vgg16" and meta["k"] == 5 and meta["complete"]
    assert meta["layers"]["relu3_3"]["receptive_field"] == {"size": 40, "stride": 4, "start": -18}
    assert len(meta["fingerprint"]) == 64 and "group0" not in json.dumps(meta)  # keys only
    assert load_index(tmp_path).images[0] == "group0/img_00.png"


def test_resume_refuses_another_model_layer_or_dataset(
    vgg_backbone, face_backbone, image_folder, vgg_index, tmp_path
) -> None:
    out = vgg_index.folder
    with pytest.raises(IndexMismatch, match="model"):
        build_index(face_backbone, image_folder, out, ["conv1"], k=5)
    with pytest.raises(IndexMismatch, match="layers"):
        build_index(vgg_backbone, image_folder, out, ["relu1_1"], k=5)
    with pytest.raises(IndexMismatch, match="dataset"):
        build_index(vgg_backbone, image_folder, out, VGG_LAYERS, k=5, limit=4)
    # The same request again is the finished index, without recomputing anything.
    assert build_index(vgg_backbone, image_folder, out, VGG_LAYERS, k=5).complete


def test_bad_input_raises_typed_errors(vgg_backbone, vgg_index, tmp_path) -> None:
    with pytest.raises(NoImagesFound):
        build_index(vgg_backbone, tmp_path, tmp_path / "out", ["conv1_1"])
    with pytest.raises(NoImagesFound):
        list_images(tmp_path / "missing")
    with pytest.raises(UnknownLayer, match="relu1_1"):
        build_index(vgg_backbone, tmp_path, tmp_path / "out", ["fc7"])
    with pytest.raises(ChannelOutOfRange):
        vgg_index.hits("conv1_1", 64)
    with pytest.raises(UnknownLayer):
        vgg_index.hits("pool5", 0)
    with pytest.raises(NotAnIndex):
        load_index(tmp_path)


def test_unreadable_images_are_skipped_and_listed(face_backbone, tmp_path, astronaut) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(astronaut).save(images / "a.png")
    (images / "b.jpg").write_bytes(b"not a jpeg")
    index = build_index(face_backbone, images, tmp_path / "out", ["conv1"], k=2)
    assert index.skipped == ["b.jpg"] and index.layer("conv1").counted == 1
    assert load_index(tmp_path / "out").skipped == ["b.jpg"]
    assert {h.image_id for h in index.hits("conv1", 0)} == {0}


def test_interrupt_in_a_callback_keeps_the_work_done(face_backbone, image_folder, tmp_path) -> None:
    """Streamlit stops a script by raising inside the progress bar's update; Ctrl-C may land
    there too. The batches finished by then are on disk, and the next run resumes after them."""

    def interrupt_after_two_batches(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(
            face_backbone,
            image_folder,
            tmp_path,
            ["conv1"],
            k=2,
            batch_size=2,
            limit=6,
            progress=interrupt_after_two_batches,
        )
    assert load_index(tmp_path).done == 4
    calls = []
    resumed = build_index(
        face_backbone,
        image_folder,
        tmp_path,
        ["conv1"],
        k=2,
        batch_size=2,
        limit=6,
        progress=lambda done, total: calls.append(done),
    )
    assert resumed.complete and calls == [6] and resumed.layer("conv1").counted == 6
