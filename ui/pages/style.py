"""Style transfer: a content photo C repainted in the style of S (Gatys et al. 2016).

The engine (``engine.style``) moves the pixels of G by gradient descent on
J = α J_content + β J_style with the VGG16 weights frozen; this page picks the images and the
knobs, shows G and the three costs as the optimiser runs, and offers the feed-forward network
as an instant preview.
"""

from __future__ import annotations

import io
import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from plotly.subplots import make_subplots

from engine.errors import VisionLabError
from engine.images import load_image
from engine.style import STYLE_LAYERS, StepLosses, StyleOptions, stylize
from engine.style.examples import CONTENT_EXAMPLES, available, load_example, style_examples
from engine.style.options import default_beta, output_shape, scale_shapes
from engine.style.results import CLEARLY_STYLISED
from ui.widgets.jobs import heavy_job, queue_caption
from ui.widgets.pace import pace_text
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import engine_status, fast_stylizer, settings, style_network

STATE, STOP = "style", "style_stop"
DEFAULTS = StyleOptions()
# The live curves are redrawn at most this often: a new plotly chart every 10 steps cost a
# quarter of a 256 px run's time (browser and server on one 2-core machine: 60 steps in 20.8 s
# with it, 15.7 s without); the preview image costs next to nothing.
LIVE_CHART_SECONDS = 10.0
BALANCES = {"More content": 0.1, "Balanced": 1.0, "More style": 10.0, "Custom": None}
# β as a multiple of the size's default (J_content grows with the area, J_style does not).
LAYER_PRESETS = {
    "Gatys et al.: relu1_1…relu5_1 equally": STYLE_LAYERS,
    "Fine texture: shallow layers": {
        "relu1_1": 0.4, "relu2_1": 0.3, "relu3_1": 0.2, "relu4_1": 0.1, "relu5_1": 0.0,
    },
    "Large strokes: deep layers": {
        "relu1_1": 0.0, "relu2_1": 0.1, "relu3_1": 0.2, "relu4_1": 0.3, "relu5_1": 0.4,
    },
}  # fmt: skip
CONTENT_LAYERS = ["relu2_2", "relu3_2", "relu4_2", "relu5_2"]
HOW_IT_WORKS = r"""
**How it works.** A VGG16 trained on ImageNet describes an image layer by layer. G starts as
the content photo and its *pixels* are changed, step by step, to lower

$$J(G) = \alpha\,J_{content}(C, G) + \beta\,J_{style}(S, G)$$

- **Content**: deep activations a[l] (relu4_2) say *what is where*;
  $J_{content} = \tfrac12\lVert a^{[l]}(C) - a^{[l]}(G)\rVert^2$.
- **Style**: the **Gram matrix** $G^{[l]}_{kk'} = \sum_{i,j} a^{[l]}_{ijk}\,a^{[l]}_{ijk'}$
  counts which features **fire together**, wherever they are — textures and colours without
  the layout. $J_{style}^{[l]} = \frac{1}{(2 n_H n_W n_C)^2}\sum_{k,k'}
  (G^{[l]}(S)_{kk'} - G^{[l]}(G)_{kk'})^2$, summed over layers with weights λ[l].

The network never changes; only G does. Shallow layers carry fine texture, deep ones larger
strokes. The **fast preview** is a different, feed-forward network (Magenta's arbitrary
stylization): instant, but a colour-and-texture filter rather than an optimisation.
"""


# --- what the page computes -------------------------------------------------------------------
def curves_figure(history: list[StepLosses]) -> go.Figure:
    """Content, style and total cost per step (log scale: they fall by orders of magnitude)."""
    steps = [h.step for h in history]
    figure = make_subplots(rows=1, cols=3, subplot_titles=("content", "style", "total J"))
    for col, (name, values) in enumerate(
        (
            ("content", [h.content for h in history]),
            ("style", [h.style for h in history]),
            ("total", [h.total for h in history]),
        ),
        start=1,
    ):
        figure.add_trace(go.Scatter(x=steps, y=values, name=name), 1, col)
    figure.update_yaxes(type="log")
    figure.update_xaxes(title_text="step")
    figure.update_layout(height=300, margin={"l": 40, "r": 20, "t": 40, "b": 40})
    return figure


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def pick_images(label: str, key: str, names: list[str], default: list[str], multiple: bool):
    """Uploaded images, else the chosen examples: a list of (name, RGB array)."""
    uploads = st.file_uploader(
        f"Upload {label}",
        type=["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"],
        accept_multiple_files=multiple,
        key=f"{key}_upload",
    )
    uploads = [u for u in (uploads if multiple else [uploads]) if u is not None]
    if uploads:
        max_pixels = settings().max_pixels
        return [(u.name, load_image(u.getvalue(), max_pixels=max_pixels)) for u in uploads]
    if multiple:
        chosen = st.multiselect(
            f"…or example {label}", names, [n for n in default if n in names], key=f"{key}_ex"
        )
    else:
        chosen = [st.selectbox(f"…or an example {label}", names, key=f"{key}_ex")]
    cache = settings().cache_dir  # painted examples are rendered once, then read from here
    return [(name, load_example(name, cache)) for name in chosen if name]


def show_side_by_side(content: np.ndarray, styles: list, result: np.ndarray, caption: str):
    left, middle, right = st.columns(3)
    left.image(content, caption="C: content", width="stretch")
    for name, style in styles:
        middle.image(style, caption=f"S: {name}", width="stretch")
    right.image(result, caption=f"G: {caption}", width="stretch")
    st.download_button(
        "Download G (PNG)", png_bytes(result), "stylized.png", "image/png", key="style_download"
    )


def _stop() -> None:
    st.session_state[STOP] = True


def _run(content: np.ndarray, styles: list, options: StyleOptions) -> None:
    """Optimise, showing G every ``options.every`` steps and the curves every
    ``LIVE_CHART_SECONDS``. History and the latest preview go to ``st.session_state[STATE]`` as
    they come, so a Stop keeps what was done. The call is the benchmark's fast path: the cached
    VGG16 (sliced after the deepest layer), targets computed once, ``options.precision``."""
    state = st.session_state[STATE] = {
        "content": content,
        "styles": styles,
        "history": [],
        "image": None,
        "result": None,
    }
    h, w, _ = output_shape(*content.shape[:2], options)
    levels = len(scale_shapes(h, w, options.scales))
    total_steps = options.steps + options.coarse_steps * (levels - 1)
    running = st.empty()
    with running.container():
        st.button("Stop", key="style_stop_button", on_click=_stop)
        bar = st.progress(0.0, text="Computing the targets…")
        preview, chart = st.columns([1, 2])
        preview_slot, chart_slot = preview.empty(), chart.empty()
    charted = [time.monotonic()]

    def on_step(losses: StepLosses, image: np.ndarray | None) -> bool:
        state["history"].append(losses)
        pace = pace_text(losses.step, total_steps, losses.seconds, unit="steps")
        bar.progress(
            min(1.0, losses.step / total_steps),
            text=f"Step {losses.step} / {total_steps} ({losses.side} px) · {pace}",
        )
        if image is not None:
            state["image"] = image
            preview_slot.image(image, caption=f"G at step {losses.step}")
            if time.monotonic() - charted[0] >= LIVE_CHART_SECONDS:
                charted[0] = time.monotonic()
                chart_slot.plotly_chart(
                    curves_figure(state["history"]), key=f"style_live_{losses.step}"
                )
        return bool(st.session_state.get(STOP))

    try:
        with heavy_job("style transfer", should_stop=lambda: bool(st.session_state.get(STOP))):
            state["result"] = stylize(
                content,
                [s for _, s in styles],
                options,
                callback=on_step,
                network=style_network(),
                device=engine_status().device,
                budget=settings().max_style_work,
            )
    finally:
        running.empty()  # the Stop button and the live view go once the run is over


# --- the page ---------------------------------------------------------------------------------
st.title("Neural style transfer")
controls, explanation = st.columns([3, 2])
explanation.markdown(HOW_IT_WORKS)

try:
    with controls:
        left, right = st.columns(2)
        with left:
            content_pick = pick_images(
                "content image", "style_content", available(CONTENT_EXAMPLES), [], False
            )
        with right:
            default_styles = ["Hubble deep field (scikit-image)"]
            styles = pick_images(
                "style images", "style_style", style_examples(), default_styles, True
            )
except VisionLabError as exc:
    st.error(f"That file can't be read as an image: {md_literal(exc)}")  # names its file
    st.stop()
if not content_pick or not styles:
    st.info("Choose a content image and at least one style image.")
    st.stop()
content = content_pick[0][1]

with controls:
    blend = None
    if len(styles) > 1:
        st.caption("Blend of the styles (their Gram matrices are mixed with these weights)")
        columns = st.columns(len(styles))
        blend = [
            col.slider(name, 0.0, 1.0, 1.0 / len(styles), 0.05, key=f"style_blend_{i}")
            for i, (col, (name, _)) in enumerate(zip(columns, styles, strict=True))
        ]
        if sum(blend) == 0:
            st.warning("Give at least one style a weight above 0.")
            st.stop()
    mode = st.radio(
        "Method",
        ["Optimisation (Gatys et al.)", "Fast preview (feed-forward)"],
        horizontal=True,
        key="style_mode",
    )

if mode.startswith("Fast"):
    strength = st.slider("Strength", 0.0, 1.0, 1.0, 0.05, key="style_strength")
    try:
        fast = fast_stylizer().stylize(
            content, [s for _, s in styles], blend=blend, strength=strength
        )
    except VisionLabError as exc:
        st.error(str(exc))
        st.stop()
    for notice in fast.notices:
        st.info(notice)
    show_side_by_side(content, styles, fast.image, f"fast preview, {fast.milliseconds:.0f} ms")
    st.stop()

with controls:
    a, b, c, d = st.columns(4)
    size = int(
        a.number_input("Output size (long side, px)", 32, 2048, DEFAULTS.size, 32, key="style_size")
    )
    steps = int(b.number_input("Steps", 1, 3000, DEFAULTS.steps, 10, key="style_steps"))
    every = int(
        c.number_input(
            "Preview every N steps",
            1,
            500,
            DEFAULTS.every,
            key="style_every",
            help=f"G is shown every N steps; the cost curves at most every "
            f"{LIVE_CHART_SECONDS:.0f} s while the run goes (each new chart costs time).",
        )
    )
    seed = int(d.number_input("Seed", 0, value=0, key="style_seed"))
    init = a.selectbox("Start from", ["content", "noise", "style"], key="style_init")
    optimizer = b.selectbox("Optimiser", ["lbfgs", "adam"], key="style_optimizer")
    colour = c.selectbox(
        "Keep content colours", ["none", "luminance", "histogram"], key="style_colour"
    )
    scales = int(d.number_input("Scales (coarse → fine)", 1, 4, 1, key="style_scales"))
    balance = a.selectbox("Balance", list(BALANCES), index=1, key="style_balance")
    h, w, _ = output_shape(*content.shape[:2], StyleOptions(size=size))
    if BALANCES[balance] is None:
        alpha = b.number_input("α (content)", 0.0, value=1.0, key="style_alpha")
        beta = c.number_input(
            "β (style)", 0.0, value=float(default_beta(h, w)), format="%.4g", key="style_beta"
        )
    else:
        alpha, beta = 1.0, BALANCES[balance] * default_beta(h, w)
        b.caption(f"α = {alpha:g}, β = {beta:.4g} (for {w}×{h})")
    tv_weight = d.number_input("TV weight", 0.0, value=0.0, format="%.4g", key="style_tv")
    precision = a.selectbox(
        "Number format",
        ["auto", "float32", "bfloat16"],
        key="style_precision",
        help="G's passes through VGG in bfloat16 run ~3× faster where the processor has "
        "bfloat16 units (AMX, AVX512-BF16, GPU tensor cores); auto uses them when present. "
        "The targets and costs stay float32.",
    )
    with st.expander("Layers: content layer and style weights λ[l]"):
        content_layer = st.selectbox(
            "Content layer", CONTENT_LAYERS, index=2, key="style_content_layer"
        )
        preset = st.selectbox("Style layer preset", list(LAYER_PRESETS), key="style_preset")
        preset_index = list(LAYER_PRESETS).index(preset)
        columns = st.columns(len(STYLE_LAYERS))
        layers = {
            name: col.slider(
                name, 0.0, 1.0, LAYER_PRESETS[preset][name], 0.05,
                key=f"style_lambda_{preset_index}_{name}",
            )
            for col, name in zip(columns, STYLE_LAYERS, strict=True)
        }  # fmt: skip
    layers = {name: value for name, value in layers.items() if value > 0}
    # The budget is stated beside Start and enforced again by the engine (``stylize``).
    budget = settings().max_style_work
    work = StyleOptions(size=size, steps=steps, scales=scales, coarse_steps=steps).work(
        content.shape[:2]
    )
    over_budget = work > budget
    start = st.button(
        "Start", key="style_start", type="primary", disabled=not layers or over_budget
    )
    budget_text = (
        f"This run: {work:,} pixel-steps (size² × steps over the scales) of the "
        f"{budget:,} one run may use here. {queue_caption()}"
    )
    if over_budget:
        st.warning(
            f"{budget_text} Lower the size, the steps or the scales to start; at {w}×{h} px, "
            f"{budget // (h * w):,} steps on one scale fit."
        )
    else:
        st.caption(budget_text)

options = StyleOptions(
    size=size,
    steps=steps,
    alpha=alpha,
    beta=beta,
    tv_weight=tv_weight,
    content_layer=content_layer,
    style_layers=layers,
    blend=blend,
    init=init,
    optimizer=optimizer,
    colour=colour,
    scales=scales,
    coarse_steps=steps,
    seed=seed,
    every=every,
    precision=precision,
)
if start:
    st.session_state[STOP] = False
    try:
        _run(content, styles, options)
    except (VisionLabError, ValueError) as exc:
        st.session_state[STATE] = None
        st.error(str(exc))
        st.stop()

state = st.session_state.get(STATE)
if not state:
    st.stop()
result = state["result"]
if result is None or result.cancelled:
    done = len(state["history"])
    st.warning(f"Stopped after {done} steps.")
    if state["image"] is not None:
        show_side_by_side(state["content"], state["styles"], state["image"], "when stopped")
    if state["history"]:
        st.plotly_chart(curves_figure(state["history"]), key="style_curves")
    st.stop()

for notice in result.notices:
    st.info(notice)
last = result.history[-1]
caption = f"{len(result.history)} steps in {result.seconds:.1f} s"
show_side_by_side(state["content"], state["styles"], result.image, caption)
st.plotly_chart(curves_figure(result.history), key="style_curves")
st.caption(
    f"Final J = {last.total:.4g}: content {last.content:.4g}, style {last.style:.4g} · "
    f"α = {result.options.alpha:g}, β = {result.options.beta:.4g} · {result.image.shape[1]}×"
    f"{result.image.shape[0]} px · VGG passes in {result.dtype}"
)
if result.style_ratio is not None:
    verdict = "clearly stylised" if result.clearly_stylised else "lightly stylised"
    st.caption(
        f"Style cost {result.style_ratio:,.0f}× below the content photo's own ({verdict}: "
        f"{CLEARLY_STYLISED:g}× or more is clearly stylised). For more style, choose the "
        "balance More style or more steps."
    )
