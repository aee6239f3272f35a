"""Index a dataset: per layer and channel, the k images (and positions) that activate it most.

A run decodes each image, brings it to the backbone's input square (``Backbone.prepare``),
runs batches on the backbone's device up to the deepest layer asked for, and folds each
batch's spatial maxima into a ``ChannelTopK`` per layer — memory O(channels · k), not
O(images) — plus the running sum of activation maps (for the mean activation map; one map per
layer, not per image).

On disk, in its own folder::

    meta.json   model, layers (with receptive fields), k, input size, dataset root, image keys,
                dataset fingerprint, images done, complete or not
    index.npz   per layer: values / images / ys / xs (C, k) and map_sum (C, H, W); ``done``

``index.npz`` is replaced atomically at every checkpoint and carries its own ``done`` count,
so a run stopped at any moment (Stop, Ctrl-C, a crash) resumes from its last checkpoint and
ends with the same index as one uninterrupted run (``ChannelTopK`` breaks ties by image id).
Resuming into a folder that holds another model's, layer set's, k's or dataset's index is
refused (``IndexMismatch``).

The files name no image: each is stored as a keyed hash of its relative path (``image_key``,
with a random key of the index's own) and found again by hashing the files under the root when
the index is loaded. An index of the gallery's chips (``<person id>/<face id>.png``) so keeps no
person or face id, and a chip deleted from the gallery drops out of the index's hits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.errors import InvalidImage
from engine.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, load_image
from engine.neurons.backbones import Backbone
from engine.neurons.errors import (
    ChannelOutOfRange,
    IndexMismatch,
    NoImagesFound,
    NotAnIndex,
    TooManyImages,
    UnknownLayer,
)
from engine.neurons.receptive_field import ReceptiveField
from engine.neurons.topk import ChannelTopK, TopKArrays
from engine.permissions import Action, Actor

FORMAT_VERSION = 2
"""2: image keys instead of image names (1 is still read)."""
MAX_UPLOAD_IMAGES = 2_000
"""Images one index of uploaded images may hold (``build_index(max_images=...)``): about
20 minutes of VGG16 at 224 px on a 2-core CPU. Folders on the server are an operator's, not
bounded."""
META, ARRAYS = "meta.json", "index.npz"

Progress = Callable[[int, int], None]


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), in a stable order: their relative paths."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise NoImagesFound(f"{root} is not a folder")
    files, seen = [], set()
    # Follows linked folders (a dataset assembled from links), each real folder once.
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        files += [Path(folder, n) for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise NoImagesFound(f"no image files (.jpg, .png, …) under {root}")
    return files


def dataset_fingerprint(root: Path, files: Sequence[Path]) -> str:
    """SHA-256 of every file's relative path, size and modification time, in order: cheap to
    compute on thousands of files, and it changes when a file is added, removed or rewritten."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(
            f"{path.relative_to(root).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()


def image_key(salt: str, name: str) -> str:
    """An image's relative path hashed with the index's key: it names nothing on its own."""
    return hmac.new(bytes.fromhex(salt), name.encode(), hashlib.sha256).hexdigest()[:32]


def _names_of_keys(root: Path, salt: str, keys: Sequence[str]) -> list[str]:
    """The relative path each key stands for, among the files under ``root`` now; "" for an
    image that is gone (deleted from the dataset or the gallery)."""
    try:
        files = list_images(root)
    except NoImagesFound:
        files = []
    names = (path.relative_to(root).as_posix() for path in files)
    present = {image_key(salt, name): name for name in names}
    return [present.get(str(k), "") for k in keys]


@dataclass(frozen=True)
class Hit:
    """One of a channel's top-k: which image, where (layer coordinates) and how strongly."""

    rank: int
    value: float
    image_id: int
    path: Path
    y: int
    x: int


@dataclass
class LayerIndex:
    name: str
    receptive_field: ReceptiveField
    top: TopKArrays
    map_sum: np.ndarray
    """Sum of the activation maps (C, H, W) over the images counted."""
    counted: int

    @property
    def channels(self) -> int:
        return self.top.values.shape[0]

    def check_channel(self, channel: int) -> int:
        if not 0 <= channel < self.channels:
            raise ChannelOutOfRange(
                f"layer {self.name} has channels 0–{self.channels - 1}, not {channel}"
            )
        return channel

    def mean_map(self, channel: int) -> np.ndarray:
        """The channel's activation map averaged over the dataset (H, W)."""
        self.check_channel(channel)
        return (self.map_sum[channel] / max(self.counted, 1)).astype(np.float32)


@dataclass
class NeuronIndex:
    """A finished (or checkpointed) index, as ``build_index`` writes and ``load_index`` reads."""

    folder: Path
    model: str
    input_size: int
    k: int
    root: Path
    images: list[str]
    fingerprint: str
    layers: dict[str, LayerIndex]
    done: int
    complete: bool
    skipped: list[str] = field(default_factory=list)
    salt: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    """The key of ``image_key``: hex, random per index."""

    def layer(self, name: str) -> LayerIndex:
        if name not in self.layers:
            raise UnknownLayer(f"this index has layers {', '.join(self.layers)}, not {name!r}")
        return self.layers[name]

    def image_path(self, image_id: int) -> Path:
        return self.root / self.images[image_id]

    def hits(self, layer: str, channel: int) -> list[Hit]:
        """The channel's top-k, best first (fewer than k when fewer images were indexed)."""
        index = self.layer(layer)
        index.check_channel(channel)
        top = index.top
        return [
            Hit(
                rank,
                float(top.values[channel, rank]),
                int(top.images[channel, rank]),
                self.image_path(int(top.images[channel, rank])),
                int(top.ys[channel, rank]),
                int(top.xs[channel, rank]),
            )
            for rank in range(top.values.shape[1])
            if top.images[channel, rank] >= 0 and self.images[int(top.images[channel, rank])]
        ]

    def metadata(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "model": self.model,
            "layers": {
                name: {"channels": li.channels, "receptive_field": li.receptive_field.as_dict()}
                for name, li in self.layers.items()
            },
            "k": self.k,
            "input_size": self.input_size,
            "root": str(self.root),
            "fingerprint": self.fingerprint,
            "salt": self.salt,
            "image_keys": [image_key(self.salt, name) for name in self.images],
            "done": self.done,
            "complete": self.complete,
        }

    def save(self) -> None:
        """Arrays first, atomically; then the metadata (its ``done`` is informative only)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "done": np.array(self.done),
            "skipped": np.array([image_key(self.salt, n) for n in self.skipped], dtype=str),
        }
        for name, li in self.layers.items():
            arrays |= {
                f"{name}.values": li.top.values,
                f"{name}.images": li.top.images,
                f"{name}.ys": li.top.ys,
                f"{name}.xs": li.top.xs,
                f"{name}.map_sum": li.map_sum,
                f"{name}.counted": np.array(li.counted),
            }
        _replace(self.folder / ARRAYS, lambda f: np.savez(f, **arrays))
        text = json.dumps(self.metadata(), indent=1)
        _replace(self.folder / META, lambda f: f.write(text.encode()))


def _replace(path: Path, write: Callable) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(partial, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    partial.replace(path)


def load_index(folder: str | Path) -> NeuronIndex:
    """Read an index folder (``NotAnIndex`` when it holds none, or a damaged one)."""
    folder = Path(folder).expanduser()
    try:
        meta = json.loads((folder / META).read_text())
        with np.load(folder / ARRAYS) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise NotAnIndex(f"{folder} holds no neuron index ({exc})") from exc
    if meta.get("format") not in (1, FORMAT_VERSION):
        raise NotAnIndex(f"{folder}: index format {meta.get('format')}, expected {FORMAT_VERSION}")
    root = Path(meta["root"])
    salt = str(meta.get("salt") or secrets.token_hex(16))
    if "image_keys" in meta:
        images = _names_of_keys(root, salt, meta["image_keys"])
        skipped = [n for n in _names_of_keys(root, salt, arrays["skipped"]) if n]
    else:  # format 1 named its images; saved again, it keeps keys only
        images, skipped = list(meta["images"]), [str(s) for s in arrays["skipped"]]
    try:
        layers = {
            name: LayerIndex(
                name,
                ReceptiveField(**info["receptive_field"]),
                TopKArrays(*(arrays[f"{name}.{key}"] for key in ("values", "images", "ys", "xs"))),
                arrays[f"{name}.map_sum"],
                int(arrays[f"{name}.counted"]),
            )
            for name, info in meta["layers"].items()
        }
    except KeyError as exc:
        raise NotAnIndex(f"{folder}: index arrays incomplete ({exc})") from exc
    return NeuronIndex(
        folder=folder,
        model=meta["model"],
        input_size=meta["input_size"],
        k=meta["k"],
        root=root,
        images=images,
        fingerprint=meta["fingerprint"],
        layers=layers,
        done=int(arrays["done"]),  # the arrays' own count: meta.json may lag behind them
        complete=bool(meta["complete"]) and int(arrays["done"]) == len(images),
        skipped=skipped,
        salt=salt,
    )


def _resume_or_start(
    backbone: Backbone, out: Path, layers: list[str], k: int, root: Path, files: list[Path]
) -> NeuronIndex:
    fingerprint = dataset_fingerprint(root, files)
    if (out / META).exists():
        old = load_index(out)
        wanted = (backbone.name, layers, k, backbone.input_size, fingerprint)
        found = (old.model, list(old.layers), old.k, old.input_size, old.fingerprint)
        if wanted != found:
            what = [
                n
                for n, a, b in zip(
                    ("model", "layers", "k", "input size", "dataset"), wanted, found, strict=True
                )
                if a != b
            ]
            raise IndexMismatch(
                f"{out} holds another index ({', '.join(what)} differ: "
                f"{old.model} {', '.join(old.layers)}, k={old.k}); choose an empty folder"
            )
        return old
    names = [p.relative_to(root).as_posix() for p in files]
    return NeuronIndex(
        folder=out,
        model=backbone.name,
        input_size=backbone.input_size,
        k=k,
        root=root,
        images=names,
        fingerprint=fingerprint,
        done=0,
        complete=False,
        layers={
            name: LayerIndex(
                name,
                backbone.layer(name).receptive_field,
                ChannelTopK(backbone.layer(name).channels, k).arrays(),
                np.zeros(0),  # sized at the first batch, when the map size is known
                0,
            )
            for name in layers
        },
    )


def build_index(
    backbone: Backbone,
    images: str | Path,
    out: str | Path,
    layers: Sequence[str],
    k: int = 9,
    *,
    batch_size: int = 16,
    limit: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_seconds: float = 20.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_images: int | None = None,
) -> NeuronIndex:
    """Index ``images`` (a folder) at ``layers`` into the folder ``out``, resuming a stopped
    run there. Layers are kept in network order. Unreadable images are skipped and listed.
    ``should_stop`` is asked between batches; a stopped run is checkpointed and returned with
    ``complete=False``, and so is one interrupted by an exception raised in a callback.
    ``TooManyImages`` before any work when more than ``max_images`` would be indexed (the
    pages pass ``MAX_UPLOAD_IMAGES`` for uploads)."""
    if k < 1 or batch_size < 1:
        raise ValueError("k and batch_size must be at least 1")
    wanted = {backbone.layer(name).name for name in layers}  # UnknownLayer before any work
    layers = [name for name in backbone.layer_names if name in wanted]  # network order
    if not layers:
        raise ValueError("choose at least one layer")
    root = Path(images).expanduser().resolve()
    files = list_images(root)[:limit]
    if max_images is not None and len(files) > max_images:
        raise TooManyImages(
            f"{len(files):,} images is more than the {max_images:,} one index may hold here: "
            f"set 'at most this many images' to {max_images:,} or fewer, or index them in parts."
        )
    out = Path(out).expanduser()
    index = _resume_or_start(backbone, out, layers, k, root, files)
    if index.complete:
        return index
    device = backbone.device
    tops = {n: ChannelTopK.from_arrays(li.top, device) for n, li in index.layers.items()}
    sums = {
        n: torch.as_tensor(li.map_sum, dtype=torch.float64, device=device)
        if li.map_sum.size
        else None
        for n, li in index.layers.items()
    }

    def checkpoint(done: int) -> None:
        index.done, index.complete = done, done == len(files)
        for name, li in index.layers.items():
            li.top = tops[name].arrays()
            li.map_sum = sums[name].cpu().numpy() if sums[name] is not None else np.zeros(0)
        index.save()

    def at_batch_boundary(call: Callable[[], object], done: int) -> object:
        # The state is whole here, so an interrupt raised inside a callback (Ctrl-C, or
        # Streamlit stopping the script when a button is clicked) keeps the work done so far.
        try:
            return call()
        except BaseException:
            checkpoint(done)
            raise

    last_save = time.monotonic()
    for start in range(index.done, len(files), batch_size):
        if should_stop is not None and at_batch_boundary(should_stop, start):
            checkpoint(start)
            return index
        batch, ids = [], []
        for image_id in range(start, min(start + batch_size, len(files))):
            try:
                batch.append(backbone.prepare(load_image(files[image_id], max_pixels)))
                ids.append(image_id)
            except InvalidImage:
                index.skipped.append(index.images[image_id])
        if batch:
            with torch.inference_mode():
                activations = backbone(backbone.to_tensor(np.stack(batch)), layers)
            id_tensor = torch.tensor(ids, device=device)
            for name, act in activations.items():
                tops[name].update(act, id_tensor)
                total = act.sum(dim=0, dtype=torch.float64)
                sums[name] = total if sums[name] is None else sums[name] + total
                index.layers[name].counted += len(ids)
        done = min(start + batch_size, len(files))
        if progress is not None:
            at_batch_boundary(lambda done=done: progress(done, len(files)), done)
        if time.monotonic() - last_save > checkpoint_seconds:
            checkpoint(done)
            last_save = time.monotonic()
    checkpoint(len(files))
    return index


def index_folder(
    parent: Path, model: str, images: str | Path, layers: Sequence[str], k: int, limit: int | None
) -> Path:
    """One folder under ``parent`` per (model, layers, k, dataset contents): the same request
    resumes there."""
    root = Path(images).expanduser().resolve()
    files = list_images(root)[:limit]
    key = f"{model}|{','.join(layers)}|{k}|{dataset_fingerprint(root, files)}"
    return Path(parent) / f"{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def shared_indexes_dir(data_dir: str | Path) -> Path:
    """Where the app keeps the indexes every user browses."""
    return Path(data_dir) / "neurons"


def build_shared_index(
    actor: Actor,
    backbone: Backbone,
    images: str | Path,
    data_dir: str | Path,
    layers: Sequence[str],
    k: int = 9,
    **options,
) -> NeuronIndex:
    """``build_index`` into the data folder, where every user browses it: admins only
    (``Action.BUILD_SHARED_INDEX``). ``options`` are ``build_index``'s."""
    actor.require(Action.BUILD_SHARED_INDEX)
    layers = [name for name in backbone.layer_names if name in set(layers)]
    out = index_folder(
        shared_indexes_dir(data_dir), backbone.name, images, layers, k, options.get("limit")
    )
    return build_index(backbone, images, out, layers, k, **options)


def build_private_index(
    actor: Actor,
    backbone: Backbone,
    images: str | Path,
    parent: str | Path,
    layers: Sequence[str],
    k: int = 9,
    **options,
) -> NeuronIndex:
    """``build_index`` of uploaded images into ``parent``, a folder private to the session that
    uploaded them (``Action.INDEX_UPLOADS``) and removed with the upload."""
    actor.require(Action.INDEX_UPLOADS)
    layers = [name for name in backbone.layer_names if name in set(layers)]
    out = index_folder(Path(parent), backbone.name, images, layers, k, options.get("limit"))
    return build_index(backbone, images, out, layers, k, **options)
