"""Concepts: the course's ideas, each tied to a live computation of the engine; a quiz whose
answers are checked and explained; a conv output-shape calculator checked against torch.

Light by default: the face models and VGG16 load only when their toggles are switched on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from engine.concepts.conv_demos import ekg_matched_filter, volume_edges
from engine.concepts.conv_shapes import ConvSpec, ImpossibleConv, conv_shapes, input_notation
from engine.concepts.quiz import (
    QUESTIONS,
    FaceTriplet,
    Question,
    conv3d_answer,
    evaluate_candidates,
    sample_photos,
    siamese_check,
)
from engine.concepts.receptive_fields import vgg16_receptive_fields
from engine.concepts.signals import ekg, volume_scan
from engine.concepts.triplet_toy import collapsed_loss, loss_over_alpha, triplet_loss
from engine.errors import VisionLabError
from engine.faces.weights import FACE_RESNET_V1
from ui.widgets.resources import concepts_face_triplet, style_network

THRESHOLD = FACE_RESNET_V1.match_threshold or 0.6
# The pretrained face ResNet's own threshold (the demos use the base model, not a trained one).
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
NEURONS_PAGE, STYLE_PAGE = "ui/pages/neurons.py", "ui/pages/style.py"


def page_link(page: str, label: str) -> None:
    """A link to another page, when that page ships with this app."""
    if (Path(__file__).resolve().parents[2] / page).is_file():
        st.page_link(page, label=label)


def distance(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.norm(x - y))


def faces_needed() -> None:
    st.caption("Switch on “Load the face models” at the top of the page to run this on real faces.")


# --- ideas ------------------------------------------------------------------------------------
def verification_and_recognition(faces: FaceTriplet | None) -> None:
    st.write(
        "**Verification (1:1)**: is this the person they claim to be? One distance, one "
        "threshold. **Recognition (1:K)**: who, of the K enrolled people, is this — or nobody? "
        "K distances, the smallest one against the threshold."
    )
    st.write(
        "**One-shot learning**: we have one photo of each person. A softmax over K + 1 classes "
        "could not learn from one example and would need retraining for each new person; a "
        "learned similarity d(img1, img2) with a threshold τ needs neither: d < τ → same person."
    )
    if faces is None:
        faces_needed()
        return
    st.image(list(faces.chips), caption=list(faces.names), width=120)
    pairs = [("A", "P", faces.anchor, faces.positive), ("A", "N", faces.anchor, faces.negative)]
    st.dataframe(
        [
            {
                "pair": f"{x} vs {y}",
                "d": round(distance(u, v), 3),
                "verification": "same person" if distance(u, v) < THRESHOLD else "different",
            }
            for x, y, u, v in pairs
        ],
        hide_index=True,
    )
    gallery = {faces.names[0]: faces.anchor, faces.names[2]: faces.negative}
    scores = {name: distance(faces.positive, vector) for name, vector in gallery.items()}
    best = min(scores, key=scores.__getitem__)
    st.write(
        f"Recognition of P against a gallery of K = {len(gallery)}, one photo each: "
        + ", ".join(f"d = {d:.3f} to {name}" for name, d in scores.items())
        + f" → **{best if scores[best] < THRESHOLD else 'unknown'}** (threshold {THRESHOLD})."
    )


def siamese() -> None:
    st.write(
        "Both branches of a Siamese network are **one** network f: only then do f(x1) and f(x2) "
        "share a space where ‖f(x1) − f(x2)‖ means something. The Train page runs anchor, "
        "positive and negative through one module (`engine.training.projection.embed_triplet`):"
    )
    check = siamese_check()
    c1, c2, c3 = st.columns(3)
    c1.metric("Parameter tensors (all branches)", check.parameter_tensors)
    c2.metric("Parameters", f"{check.parameters:,}")
    c3.metric("Same image, branches A vs P: max difference", f"{check.twin_gap:.1e}")
    st.caption(
        "Each branch's output equals the one module applied alone to within "
        f"{check.branch_gap:.0e}."
    )


def toy_figure(points: dict[str, tuple[float, float]], radius: float) -> go.Figure:
    ax, ay = points["A"]
    theta = np.linspace(0, 2 * np.pi, 120)
    figure = go.Figure(
        go.Scatter(
            x=ax + radius * np.cos(theta),
            y=ay + radius * np.sin(theta),
            mode="lines",
            line={"dash": "dot", "color": "grey"},
            name="N outside → loss 0",
        )
    )
    colours = {"A": "#1f77b4", "P": "#2ca02c", "N": "#d62728"}
    for name, (x, y) in points.items():
        figure.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers+text",
                text=[name],
                textposition="top center",
                marker={"size": 14, "color": colours[name]},
                name=name,
            )
        )
    figure.update_layout(height=380, margin={"l": 20, "r": 20, "t": 20, "b": 20})
    figure.update_yaxes(scaleanchor="x", range=[-2.5, 2.5])
    figure.update_xaxes(range=[-2.5, 2.5])
    return figure


def triplet_toy() -> None:
    st.write(
        "L(A, P, N) = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0), here on three 2-D points. "
        "Move them with the sliders (a slider stands in for dragging): the loss is 0 exactly "
        "when N lies outside the dotted circle of radius √(d(A, P) + α) around A."
    )
    defaults = {"A": (0.0, 0.0), "P": (0.8, 0.3), "N": (-0.6, 0.9)}
    points = {}
    for column, (name, (x0, y0)) in zip(st.columns(3), defaults.items(), strict=True):
        x = column.slider(f"{name} x", -2.0, 2.0, x0, 0.05, key=f"toy_{name}_x")
        y = column.slider(f"{name} y", -2.0, 2.0, y0, 0.05, key=f"toy_{name}_y")
        points[name] = (x, y)
    alpha = st.slider("Margin α", 0.0, 2.0, 0.2, 0.05, key="toy_alpha")
    result = triplet_loss(points["A"], points["P"], points["N"], alpha)
    left, right = st.columns([3, 2])
    left.plotly_chart(toy_figure(points, result.negative_radius), key="toy_plot")
    right.metric("‖f(A) − f(P)‖²", f"{result.d_ap:.3f}")
    right.metric("‖f(A) − f(N)‖²", f"{result.d_an:.3f}")
    right.metric("Loss", f"{result.loss:.3f}")
    right.write(
        f"A **{result.kind}** triplet: "
        + ("it still produces a gradient." if result.active else "no gradient, nothing to learn.")
    )
    alphas = np.linspace(0, 2, 41)
    curve = go.Figure(go.Scatter(x=alphas, y=loss_over_alpha(*points.values(), alphas)))
    curve.update_layout(
        height=220,
        margin={"l": 40, "r": 20, "t": 10, "b": 40},
        xaxis_title="α",
        yaxis_title="loss of this triplet",
    )
    st.plotly_chart(curve, key="toy_alpha_curve")
    st.write(
        f"**Why α > 0**: a network that maps every face to one point has d(A, P) = d(A, N) = 0. "
        f"With α = 0 its loss is {collapsed_loss(0.0):.1f} — a perfect score for a useless "
        f"network; with α = {alpha:.2f} it is {collapsed_loss(alpha):.2f}."
    )


def binary_verification(faces: FaceTriplet | None) -> None:
    st.write(
        "Verification can also be a binary classifier on the element-wise difference: "
        "ŷ = σ(Σ_k w_k |f(a)_k − f(b)_k| + b), trained on same / different pairs. The Threshold "
        "lab fits this logistic regression on your pairs and compares it with the plain distance."
    )
    if faces is None:
        faces_needed()
        return
    figure = go.Figure()
    for label, other in (
        ("|f(A) − f(P)|, same person", faces.positive),
        ("|f(A) − f(N)|, different people", faces.negative),
    ):
        figure.add_trace(go.Bar(y=np.abs(faces.anchor - other), name=label))
    figure.update_layout(
        height=260,
        margin={"l": 40, "r": 20, "t": 10, "b": 40},
        xaxis_title="feature k of 128",
        barmode="overlay",
    )
    st.plotly_chart(figure, key="absdiff_bars")


def style_costs() -> None:
    st.write(
        "**Content cost** J_content(C, G) = ½ ‖a\\[l\\](C) − a\\[l\\](G)‖² compares activations; "
        "**style cost** compares Gram matrices G[l]_kk' = Σ_i Σ_j a[l]_ijk · a[l]_ijk' — how "
        "much channels k and k' fire together, wherever they fire."
    )
    if not st.toggle("Load VGG16 and compute a real layer (a few seconds)", key="concepts_vgg"):
        return
    from engine.concepts.style_layer import layer_costs  # imports torchvision: only when asked

    layer = st.selectbox("Layer", STYLE_LAYERS, index=2, key="concepts_layer")
    content, style = sample_photos()
    try:
        costs = layer_costs(style_network(), content, style, layer)
    except VisionLabError as exc:
        st.error(f"VGG16 is not available: {exc}")
        return
    n_c, n_h, n_w = costs.shape
    shown = min(n_c, 64)
    figure = go.Figure(go.Heatmap(z=costs.gram_content[:shown, :shown], colorscale="Viridis"))
    figure.update_layout(
        height=420,
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
        title=f"G[{layer}] of the astronaut photo, first {shown} of {n_c} channels",
        xaxis_title="channel k'",
        yaxis_title="channel k",
    )
    figure.update_yaxes(autorange="reversed")
    st.plotly_chart(figure, key="gram_heatmap")
    c1, c2, c3 = st.columns(3)
    c1.metric("J_content(C, C)", f"{costs.self_content_cost:.3g}")
    c2.metric("J_content(C, S)", f"{costs.content_cost:.3g}")
    c3.metric(f"J_style[{layer}](S, C)", f"{costs.style_cost:.3g}")
    st.caption(f"C = astronaut, S = Grace Hopper, both 128×128; a[{layer}] is {n_h}×{n_w}×{n_c}.")
    page_link(STYLE_PAGE, "Optimise an image against both costs on the Style transfer page")


def units_learn() -> None:
    st.write(
        "A unit can only respond to what its receptive field covers. Early units see a few "
        "pixels and learn edges and colours; deeper ones see most of the image and respond to "
        "textures, object parts, whole objects — a “cat unit” lives deep."
    )
    fields = vgg16_receptive_fields()
    figure = go.Figure(go.Bar(x=list(fields), y=[f.size for f in fields.values()]))
    figure.update_layout(
        height=260,
        margin={"l": 40, "r": 20, "t": 10, "b": 40},
        yaxis_title="receptive field (pixels)",
    )
    st.plotly_chart(figure, key="receptive_fields")
    st.caption("VGG16's conv layers, computed from their kernels, strides and padding.")
    page_link(NEURONS_PAGE, "Browse the patches that excite real units on the Neurons page")


def one_and_three_d() -> None:
    st.write(
        "A convolution slides one kernel along every spatial axis of its input. 1-D: along time "
        "(an EKG, audio). 3-D: along depth, height and width (a CT or MRI volume, video)."
    )
    t, signal = ekg()
    demo = ekg_matched_filter(signal)
    k = len(demo.kernel)
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("EKG-like signal", "Conv1d with a QRS template"),
    )
    figure.add_trace(go.Scatter(x=t, y=signal, name="signal"), 1, 1)
    figure.add_trace(
        go.Scatter(x=t[k // 2 : k // 2 + len(demo.output)], y=demo.output, name="response"), 2, 1
    )
    figure.update_layout(height=380, margin={"l": 40, "r": 20, "t": 30, "b": 40}, showlegend=False)
    figure.update_xaxes(title_text="seconds", row=2, col=1)
    st.plotly_chart(figure, key="ekg_plot")
    st.caption(
        f"1-D: input {len(signal)}×1, kernel {k}, 1 filter → {demo.output.shape[0]}×1 "
        f"({len(signal)} − {k} + 1). The peaks are the heartbeats."
    )
    volume = volume_scan()
    edges = volume_edges(volume)
    middle = volume.shape[0] // 2
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"volume, slice {middle}", "Conv3d with a 3×3×3 Laplacian, same slice"),
    )
    figure.add_trace(go.Heatmap(z=volume[middle], colorscale="gray", showscale=False), 1, 1)
    figure.add_trace(go.Heatmap(z=edges.output[middle], colorscale="RdBu", showscale=False), 1, 2)
    figure.update_layout(height=340, margin={"l": 20, "r": 20, "t": 30, "b": 20})
    st.plotly_chart(figure, key="volume_plot")
    size = "×".join(map(str, volume.shape))
    st.caption(
        f"3-D: input {size}×1, kernel 3×3×3, padding 1, 1 filter → "
        f"{'×'.join(map(str, edges.output.shape))}×1: edges of the structures light up."
    )


def ideas(faces: FaceTriplet | None) -> None:
    with st.expander("Face verification vs recognition, and one-shot learning", expanded=True):
        verification_and_recognition(faces)
    with st.expander("The Siamese network: one set of parameters"):
        siamese()
    with st.expander("Triplet loss: an interactive 2-D toy"):
        triplet_toy()
    with st.expander("Verification as binary classification on |f(a) − f(b)|"):
        binary_verification(faces)
    with st.expander("Content and style cost: a real Gram matrix"):
        style_costs()
    with st.expander("What units learn"):
        units_learn()
    with st.expander("Convolutions in 1-D and 3-D"):
        one_and_three_d()


# --- quiz -------------------------------------------------------------------------------------
def candidates_table(faces: FaceTriplet | None) -> None:
    if faces is None:
        faces_needed()
        return
    rows = evaluate_candidates(faces, alpha=0.2)
    st.dataframe(
        [
            {
                "candidate": r.formula,
                "A-P same, A-N different": round(r.good, 4),
                "P and N swapped": round(r.swapped, 4),
                "all embeddings equal": round(r.collapsed, 4),
                "behaves": "yes" if r.behaves else "no",
            }
            for r in rows
        ],
        hide_index=True,
        key="quiz_candidates",
    )
    st.caption(
        "α = 0.2; squared distances of the real embeddings (Eileen Collins, her cropped "
        "mirror image, Grace Hopper)."
    )


def question_demo(question: Question, faces: FaceTriplet | None) -> None:
    if question.demo == "triplet_candidates":
        candidates_table(faces)
    elif question.demo == "siamese":
        check = siamese_check()
        st.caption(
            f"The engine's branches: {check.parameter_tensors} parameter tensors, "
            f"{check.parameters:,} parameters for A, P and N together; the same image in "
            f"two branches gives outputs {check.twin_gap:.1e} apart."
        )
    elif question.demo == "neurons":
        fields = vgg16_receptive_fields()
        st.caption(
            f"Computed: a VGG16 conv1_1 unit sees {fields['conv1_1'].size}×"
            f"{fields['conv1_1'].size} pixels, a conv4_3 unit {fields['conv4_3'].size}×"
            f"{fields['conv4_3'].size}."
        )
        page_link(NEURONS_PAGE, "See it on the Neurons page")
    elif question.demo == "conv3d":
        shapes = conv3d_answer()
        st.caption(
            f"nn.Conv3d(16, 32, kernel_size=3) on a zero {input_notation(shapes.spec)} "
            f"volume → {shapes.course_notation(shapes.torch)}."
        )


def quiz(faces: FaceTriplet | None) -> None:
    right = 0
    for question in QUESTIONS:
        st.markdown(f"**{question.number}.** {question.text}")
        key = f"quiz_{question.number}"
        if question.multiple:
            chosen = st.multiselect("Your answers", question.choices, key=key)
        else:
            chosen = st.radio("Your answer", question.choices, index=None, key=key)
        if chosen:
            if question.is_correct(chosen):
                right += 1
                st.success(f"Correct. {question.explanation}")
            else:
                st.error(
                    f"Not quite — the answer is: {' + '.join(question.answer)}. "
                    f"{question.explanation}"
                )
            question_demo(question, faces)
    st.metric("Score", f"{right} / {len(QUESTIONS)}")


# --- conv shapes ------------------------------------------------------------------------------
def shape_calculator() -> None:
    st.write(
        "n_out = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1 per spatial dimension; the channels out "
        "are the number of filters. Each setting applies to every spatial dimension."
    )
    dims = st.radio(
        "Dimensions",
        (1, 2, 3),
        index=1,
        horizontal=True,
        key="conv_dims",
        format_func=lambda d: f"{d}-D",
    )
    columns = st.columns(7)
    settings = {}
    for column, (name, label, low, high, default) in zip(
        columns,
        (
            ("size", "input size n", 1, 1024, 32),
            ("in_channels", "channels", 1, 1024, 3),
            ("filters", "filters", 1, 1024, 8),
            ("kernel", "kernel k", 1, 64, 3),
            ("stride", "stride s", 1, 32, 1),
            ("padding", "padding p", 0, 64, 0),
            ("dilation", "dilation d", 1, 16, 1),
        ),
        strict=True,
    ):
        settings[name] = column.number_input(label, low, high, default, key=f"conv_{name}")
    try:
        spec = ConvSpec.of(dims, **settings)
        shapes = conv_shapes(spec)
    except ImpossibleConv as exc:
        st.error(f"No output: {exc}")
        return
    n, k, s, p, d = (settings[x] for x in ("size", "kernel", "stride", "padding", "dilation"))
    left, right = st.columns(2)
    left.metric("By the formula", shapes.course_notation(shapes.formula))
    right.metric(f"By torch nn.Conv{dims}d", shapes.course_notation(shapes.torch))
    st.write(
        f"Input {input_notation(spec)} → ⌊({n} + 2·{p} − {d}·({k} − 1) − 1) / {s}⌋ + 1 = "
        f"{shapes.formula[1]} per dimension; {spec.parameters:,} parameters "
        f"({settings['filters']} filters × ({settings['in_channels']} × {k}^{dims}) + "
        f"{settings['filters']} biases)."
    )
    where = "a zero input" if shapes.device == "cpu" else "a meta tensor (too big to run here)"
    if shapes.agree:
        st.success(
            f"Formula and torch agree (torch ran on {where}; its layout is (N, C, …): "
            f"{(1, *shapes.torch)})."
        )
    else:
        st.error(f"Formula {shapes.formula} and torch {shapes.torch} disagree.")


# --- the page ---------------------------------------------------------------------------------
st.title("Concepts")
st.write(
    "The ideas behind Vision Lab, each next to the engine computing it; a quiz whose answers "
    "are checked and explained; and a calculator for convolution output shapes."
)
faces = None
if st.toggle("Load the face models for the face demos (a few seconds)", key="concepts_faces"):
    try:
        faces = concepts_face_triplet()
    except VisionLabError as exc:
        st.error(f"The face demos cannot run: {exc}")

ideas_tab, quiz_tab, shapes_tab = st.tabs(["Ideas", "Quiz", "Conv shapes"])
with ideas_tab:
    ideas(faces)
with quiz_tab:
    quiz(faces)
with shapes_tab:
    shape_calculator()
