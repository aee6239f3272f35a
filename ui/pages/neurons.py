"""Neurons: what a unit of a ConvNet responds to — its top-activating image patches.

"What are deep ConvNets learning?": index a set of images once (``engine.neurons.index``), then
browse a layer's channels, each shown by the receptive-field patch that drives it hardest.

An index of uploaded images is private to the session and lives in the upload's temporary
folder (gone with it); an index of the gallery's chips or of an allowed server folder is shared
under the data folder, and only an admin may build one (checked in ``build_shared_index``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import plotly.express as px
import streamlit as st

from engine.data_sources import UPLOAD_LIMITS
from engine.errors import VisionLabError
from engine.neurons.backbones import Backbone, available_backbones
from engine.neurons.index import (
    MAX_UPLOAD_IMAGES,
    META,
    NeuronIndex,
    build_private_index,
    build_shared_index,
    load_index,
    shared_indexes_dir,
)
from engine.neurons.maximize import maximize_channel
from engine.neurons.patches import (
    PAD_GREY,
    best_patches,
    filter_tiles,
    grid,
    network_view,
    outlined,
    top_patches,
)
from engine.permissions import Action
from ui.widgets.data_source import data_source, session_actor, uploaded
from ui.widgets.jobs import heavy_job, queue_caption
from ui.widgets.resources import neuron_backbone, settings

STOP, CURRENT = "neurons_stop", "neurons_current"
YOURS, CHIPS = "Your images", "The enrolled gallery's face chips"
CHANNELS_PER_SHEET = 64
DEFAULT_LAYERS = {"face": ["conv1", "res3c", "down1"], "vgg16": ["relu1_2", "relu3_3", "relu5_3"]}
DEFAULT_LAYERS["vgg19"] = ["relu1_2", "relu3_4", "relu5_4"]
TITLES = {
    "face": "Face ResNet (dlib, the verification network)",
    "vgg16": "VGG16 ImageNet (offline Oxford weights)",
    "vgg19": "VGG19 ImageNet (torchvision)",
}


# --- what the page computes -------------------------------------------------------------------
def neurons_dir() -> Path:
    return shared_indexes_dir(settings().data_dir)


def private_dir() -> Path | None:
    """Where this session's index of its upload goes: inside the upload's temporary folder."""
    upload = uploaded("neurons")
    return upload.private_folder("neurons") if upload is not None else None


def saved_indexes() -> list[Path]:
    """This session's private index folders, then the shared ones; newest first."""
    found: list[Path] = []
    for parent in (private_dir(), neurons_dir()):
        if parent is not None and parent.is_dir():
            metas = sorted(parent.glob(f"*/{META}"), key=lambda p: p.stat().st_mtime, reverse=True)
            found += [p.parent for p in metas]
    return found


@st.cache_resource(max_entries=4)
def _load(folder: str, stamp: float) -> NeuronIndex:
    return load_index(folder)


def open_index(folder: Path) -> NeuronIndex:
    return _load(str(folder), (folder / META).stat().st_mtime)


def channel_sheet(index: NeuronIndex, layer: str, first: int) -> np.ndarray:
    """Channels ``first`` … ``first + 63`` of a layer, each as its best patch, numbered."""
    last = min(first + CHANNELS_PER_SHEET, index.layer(layer).channels)
    patches = best_patches(index, layer, range(first, last))
    blank = np.full((8, 8, 3), PAD_GREY, np.uint8)
    return grid(
        [p if p is not None else blank for p in patches],
        columns=8,
        tile=72,
        labels=[str(first + i) for i in range(len(patches))],
    )


def _stop() -> None:
    st.session_state[STOP] = True


def _build(
    backbone: Backbone,
    root: Path,
    layers: list[str],
    k: int,
    limit: int | None,
    max_images: int | None = None,
    private: Path | None = None,
) -> None:
    """Index ``root`` into ``private`` (an upload's own folder) or, when None, the shared
    indexes (admins only: the engine checks)."""
    st.button("Stop", key="neurons_stop_button", on_click=_stop)
    bar = st.progress(0.0, text="Indexing…")
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        bar.progress(done / total, text=f"{done:,} / {total:,} images · {rate:.1f} images/s")

    with heavy_job("neuron index", should_stop=lambda: bool(st.session_state.get(STOP))):
        options = {
            "k": k,
            "limit": limit,
            "progress": show,
            "should_stop": lambda: bool(st.session_state.get(STOP)),
            "max_pixels": settings().max_pixels,
            "max_images": max_images,
        }
        actor, data_dir = session_actor(), settings().data_dir
        if private is not None:
            index = build_private_index(actor, backbone, root, private, layers, **options)
        else:
            index = build_shared_index(actor, backbone, root, data_dir, layers, **options)
    st.session_state[CURRENT] = str(index.folder)
    if not index.complete:
        st.session_state["neurons_flash"] = (
            f"Stopped after {index.done:,} of {len(index.images):,} images: start again to "
            "resume; the partial index is browsable below."
        )


# --- the page ---------------------------------------------------------------------------------
st.title("Neurons: what does a unit respond to?")
st.markdown(
    """
For every channel of a layer, the image patches that activate it most (Zeiler & Fergus 2014;
the DeepVis toolbox): each image's **maximum over positions** ranks it, and the patch shown is
that unit's **receptive field** — the input pixels it can see (grey where it hangs over the
border). Layer-1 units respond to edges and colours; deeper units to parts and textures.
"""
)
if flash := st.session_state.pop("neurons_flash", None):
    st.warning(flash)

with st.expander("Index a set of images", expanded=not saved_indexes()):
    model = st.selectbox(
        "Network",
        available_backbones(),
        format_func=lambda m: TITLES.get(m, m),
        key="neurons_model",
    )
    backbone = neuron_backbone(model)
    # Indexing the gallery's chips makes a shared index: offered to those who may build one.
    may_share = session_actor().may(Action.BUILD_SHARED_INDEX)
    source = st.radio(
        "Images", [YOURS, CHIPS] if may_share else [YOURS], horizontal=True, key="neurons_source"
    )
    root: Path | None = None
    private: Path | None = None
    if source == YOURS:
        dataset = data_source(
            "neurons",
            photos=True,
            what="a zip of images (searched in full)",
            limits=replace(UPLOAD_LIMITS, max_images=MAX_UPLOAD_IMAGES),
        )
        root = dataset.root if dataset is not None else None
        private = private_dir() if dataset is not None and dataset.uploaded else None
        if private is not None:
            st.caption(
                "An index of uploaded images is yours alone and temporary: it goes with the upload."
            )
        elif dataset is not None:
            st.caption("An index of a server folder is shared: every user can browse it.")
    else:
        root = settings().data_dir / "gallery" / "chips"
        if root.is_dir():
            st.caption("Aligned 150×150 chips: the face network's own input.")
        else:
            st.info("Nobody is enrolled yet: enrol faces first, or choose another source.")
            root = None
    if model == "face" and source != CHIPS:
        st.caption(
            "The face network expects aligned 150×150 face chips; other images are resized "
            "and centre-cropped to 150×150."
        )
    defaults = [n for n in DEFAULT_LAYERS.get(model, []) if n in backbone.layer_names]
    layers = st.multiselect(
        "Layers", backbone.layer_names, default=defaults, key=f"neurons_layers_{model}"
    )
    left, right = st.columns(2)
    k = int(left.number_input("Top k per channel", 1, 64, 9, key="neurons_k"))
    limit = int(
        right.number_input("At most this many images (0: all)", 0, value=0, key="neurons_limit")
    )
    st.caption(queue_caption())
    if st.button(
        "Build index", type="primary", key="neurons_build", disabled=not (root and layers)
    ):
        st.session_state[STOP] = False
        try:
            bound = MAX_UPLOAD_IMAGES if private is not None else None
            _build(backbone, root, layers, k, limit or None, bound, private)
        except VisionLabError as exc:
            st.error(str(exc))
            st.stop()
        st.rerun()

indexes = saved_indexes()
if not indexes:
    st.info("No index yet: choose images and layers above, then build one.")
    st.stop()
current = st.session_state.get(CURRENT)
choice = st.selectbox(
    "Index",
    indexes,
    index=indexes.index(Path(current)) if current and Path(current) in indexes else 0,
    format_func=lambda p: p.name if p.parent == neurons_dir() else f"{p.name} (yours, temporary)",
    key="neurons_index",
)
try:
    index = open_index(choice)
except VisionLabError as exc:
    st.error(str(exc))
    st.stop()
status = "complete" if index.complete else f"partial: {index.done:,} of {len(index.images):,}"
st.caption(
    f"{TITLES.get(index.model, index.model)} · {len(index.images):,} images from {index.root.name} "
    f"({status}) · top {index.k} · layers {', '.join(index.layers)}"
    + (f" · {len(index.skipped)} unreadable skipped" if index.skipped else "")
)

layer = st.selectbox("Layer", list(index.layers), key="neurons_layer")
layer_index = index.layer(layer)
field = layer_index.receptive_field
st.caption(
    f"{layer_index.channels} channels · receptive field {field.size}×{field.size} px, "
    f"stride {field.stride}, offset {field.start} (input {index.input_size}×{index.input_size})"
)
sheets = list(range(0, layer_index.channels, CHANNELS_PER_SHEET))
first = st.selectbox(
    "Channels",
    sheets,
    format_func=lambda f: f"{f}–{min(f + CHANNELS_PER_SHEET, layer_index.channels) - 1}",
    key="neurons_sheet",
)
st.image(channel_sheet(index, layer, first), caption="each channel's best patch")

channel = int(st.number_input("Channel", 0, layer_index.channels - 1, first, key="neurons_channel"))
patches = top_patches(index, layer, channel)
st.subheader(f"{layer} · channel {channel}: top {len(patches)} patches")
st.image(
    [p.pixels for p in patches],
    width=120,
    caption=[f"{p.hit.value:.3g} · {index.images[p.hit.image_id]}" for p in patches],
)
left, right = st.columns(2)
with left:
    mean_map = layer_index.mean_map(channel)
    figure = px.imshow(mean_map, color_continuous_scale="viridis", title="mean activation map")
    figure.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(figure, key="neurons_mean_map")
with right:
    if patches:
        best = patches[0].hit
        st.image(
            outlined(network_view(index, best.image_id), field, best.y, best.x),
            caption=f"the best patch in its image (as the network saw it): "
            f"{index.images[best.image_id]}",
            width=280,
        )

model_backbone = neuron_backbone(index.model) if index.model in available_backbones() else None
if model_backbone is not None and layer in model_backbone.first_conv_layers:
    st.subheader("First-layer filters as RGB tiles")
    tiles = filter_tiles(model_backbone.first_conv_filters())
    st.image(grid(tiles, columns=16, tile=42, labels=[str(i) for i in range(len(tiles))]))

if len(index.layers) > 1:
    names = list(index.layers)
    shallow, deep = names[0], names[-1]
    st.subheader("Shallow vs deep")
    st.caption(
        "Shallow units see a few pixels and respond to edges and colours; deep units see much "
        "of the image and respond to parts and textures — more semantic patterns."
    )
    for column, name in zip(st.columns(2), (shallow, deep), strict=True):
        rf = index.layer(name).receptive_field
        column.image(
            channel_sheet(index, name, 0), caption=f"{name} · receptive field {rf.size} px"
        )

with st.expander("Optional: activation maximisation"):
    st.caption(
        "Gradient ascent on the input image for this channel's centre unit, with jitter and "
        "blur regularisation (Yosinski et al. 2015). A synthetic image, not a dataset patch."
    )
    steps = int(st.number_input("Steps", 1, 500, 60, key="neurons_max_steps"))
    if model_backbone is not None and st.button("Synthesise", key="neurons_maximize"):
        bar = st.progress(0.0)
        image, value = maximize_channel(
            model_backbone,
            layer,
            channel,
            steps=steps,
            size=index.input_size,
            progress=lambda done, total: bar.progress(done / total),
        )
        st.image(image, caption=f"activation {value:.3g}", width=280)
