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
import plotly.graph_objects as go
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
    EMPTY_GREY,
    Patch,
    best_patches,
    filter_tiles,
    fit,
    grid,
    in_photo,
    network_view,
    outlined,
    top_patches,
)
from engine.permissions import Action
from ui.widgets.data_source import data_source, session_actor, uploaded
from ui.widgets.jobs import heavy_job, queue_caption
from ui.widgets.pace import pace_text
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import neuron_backbone, settings

STOP, CURRENT = "neurons_stop", "neurons_current"
YOURS, CHIPS = "Your images", "The enrolled gallery's face chips"
CHANNELS_PER_SHEET = 64
# Top-k patches: 128-px tiles, at most 6 to a row (fewer where the page is narrower: two on a
# 390-px phone), 16 px apart (Streamlit's "small" gap).
PATCH_TILE, PATCHES_PER_ROW, GAP = 128, 6, 16
# The mean activation map's side in px; its figure is only as wide as the map and its colour
# bar, so the bar sits beside the map.
MAP_SIDE = 240
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
    blank = np.full((8, 8, 3), EMPTY_GREY, np.uint8)
    return grid(
        [p if p is not None else blank for p in patches],
        columns=8,
        tile=72,
        labels=[str(first + i) for i in range(len(patches))],
    )


def mean_map_figure(mean_map: np.ndarray) -> go.Figure:
    """The channel's mean activation map with its colour bar right beside it.

    ``px.imshow`` keeps pixels square: in a plot area wider than the map, the map is centred
    and the bar stays at the area's right edge, far from it. So the plot area is sized to the
    map, a little narrower than tall (the map then spans its full width, up to the bar), and
    should it still come out wider (a narrow column), the map keeps to its right side.
    """
    figure = px.imshow(mean_map, color_continuous_scale="viridis", title="mean activation map")
    left, right, top, bottom = 10, 70, 40, 10
    figure.update_layout(
        width=MAP_SIDE + left + right,
        height=MAP_SIDE + top + bottom + 4,
        margin={"l": left, "r": right, "t": top, "b": bottom},
        coloraxis_colorbar={
            "thickness": 14,
            "x": 1.0,
            "xanchor": "left",
            "xpad": 6,
            "len": 1.0,
            "y": 0.5,
            "yanchor": "middle",
        },
    )
    figure.update_xaxes(showticklabels=False, ticks="", constraintoward="right")
    figure.update_yaxes(showticklabels=False, ticks="")
    return figure


def show_top_patches(index: NeuronIndex, patches: list[Patch], where: bool) -> None:
    """The top-k as a grid that wraps to the page's width; ``where``: each patch's field as a
    box on its whole photo instead of the patch."""
    row = st.container(horizontal=True, gap="small", width=PATCHES_PER_ROW * (PATCH_TILE + GAP))
    for patch in patches:
        pixels = in_photo(index, patch) if where else patch.pixels
        name = md_literal(index.images[patch.hit.image_id])
        # PNG: a JPEG would smear an enlarged 7-px patch's pixel blocks and the red frame.
        caption = f"{patch.hit.value:.3g} · {name}"
        row.image(fit(pixels, PATCH_TILE), caption=caption, output_format="PNG")


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
    running = st.empty()  # the progress and its Stop button, gone once the job ends
    with running.container():
        st.button("Stop", key="neurons_stop_button", on_click=_stop)
        bar = st.progress(0.0, text="Indexing…")
    started = time.monotonic()
    first: list[tuple[int, float]] = []

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if not first:  # a resumed run starts part-way: its pace counts from its first batch
            first.append((done, now))
        base, since = first[0]
        pace = (
            pace_text(done, total, now - started)
            if done >= total
            else pace_text(done - base, total - base, now - since, unit="images")
        )
        bar.progress(done / total, text=f"Indexing: {done:,} / {total:,} images · {pace}")

    try:
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
    finally:
        running.empty()
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
that unit's **receptive field** — the input pixels it can see, cut to the image where the field
hangs over its border (a deep unit's field can be larger than the whole image). *Show where in
the photo* draws each field as a box on its photo instead. Layer-1 units respond to edges and
colours; deeper units to parts and textures.
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
where = st.toggle(
    "Show where in the photo",
    key="neurons_in_photo",
    help="Each patch's receptive field as a red box on the whole photo, as the network saw it.",
)
show_top_patches(index, patches, where)
left, right = st.columns(2)
with left:
    figure = mean_map_figure(layer_index.mean_map(channel))
    st.plotly_chart(figure, width="content", key="neurons_mean_map")
with right:
    if patches:
        best = patches[0].hit
        st.image(
            outlined(network_view(index, best.image_id), field, best.y, best.x),
            caption=f"the best patch in its image (as the network saw it): "
            f"{md_literal(index.images[best.image_id])}",
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
        running = st.empty()  # the progress and its Stop button, gone once the job ends
        with running.container():
            # A click reruns the page, which ends this run at its next step.
            st.button("Stop", key="neurons_maximize_stop")
            bar = st.progress(0.0, text="Synthesising…")
        started = time.monotonic()

        def step_done(done: int, total: int) -> None:
            pace = pace_text(done, total, time.monotonic() - started, unit="steps")
            bar.progress(done / total, text=f"Step {done} / {total} · {pace}")

        try:
            with heavy_job("activation maximisation"):
                image, value = maximize_channel(
                    model_backbone,
                    layer,
                    channel,
                    steps=steps,
                    size=index.input_size,
                    progress=step_done,
                )
        except VisionLabError as exc:
            st.error(str(exc))
        else:
            st.image(image, caption=f"activation {value:.3g}", width=280)
        finally:
            running.empty()
