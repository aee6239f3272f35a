"""Verify: are two faces the same person? Photo against photo, or photo against a claimed
enrolled person."""

import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from engine.errors import VisionLabError
from engine.evaluation.pair_classifier import (
    PairClassifier,
    PairDecision,
    saved_pair_classifiers,
    verify_with_classifier,
)
from engine.faces.pipeline import Face
from engine.verification import (
    EmptyGallery,
    VerificationResult,
    verify_claim,
    verify_embeddings,
)
from ui.widgets.face_widgets import (
    chip_image,
    counted,
    one_face,
    open_gallery,
    show_error,
    threshold_slider,
)
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import face_pipeline, settings

TWO_PHOTOS = "Two photos"
CLAIMED = "A photo and an enrolled person"
DISTANCE = "distance"


def show_verdict(
    same: bool, margin: float, sides: tuple[str, str], figures: dict[str, str]
) -> None:
    """The decision in one coloured line ("0.123 inside the threshold": ``sides`` names the
    same-person side and the other), then its figures side by side."""
    same_side, other_side = sides
    if same:
        st.success(f"**Same person** — {margin:.3f} {same_side} the threshold.")
    else:
        st.warning(f"**Different people** — {-margin:.3f} {other_side} the threshold.")
    for column, (label, value) in zip(st.columns(len(figures)), figures.items(), strict=True):
        column.metric(label, value)


def verdict_area(enrolled: tuple[bytes | None, str] | None) -> DeltaGenerator:
    """Where the verdict goes: beside the claimed person's enrolled chip (``(png, caption)``)
    when there is one. The photos' own chips are already drawn under each photo, so they are
    not drawn again here."""
    if enrolled is None:
        return st.container()
    chip_column, verdict_column = st.columns([1, 4])
    with chip_column:
        chip_image(*enrolled)
    return verdict_column


def distance_gauge(distance: float, threshold: float, same: bool) -> go.Figure:
    """The distance as a bar against the threshold line, its axis ticked at 0, the threshold
    and the end only (the number itself is the Distance metric beside it, shown once)."""
    end = max(1.2, distance * 1.1)
    ticks = {0.0: "0", threshold: f"{threshold:.2f}"}
    if end - threshold > 0.1:  # a threshold at the end is the end's label (no overlap)
        ticks[end] = f"{end:.2f}"
    figure = go.Figure(
        go.Indicator(
            mode="gauge",
            value=distance,
            gauge={
                "shape": "bullet",
                "axis": {
                    "range": [0, end],
                    "tickmode": "array",
                    "tickvals": list(ticks),
                    "ticktext": list(ticks.values()),
                },
                "threshold": {"value": threshold, "line": {"color": "red", "width": 3}},
                "bar": {"color": "seagreen" if same else "darkorange"},
            },
        )
    )
    figure.update_layout(height=90, margin={"l": 20, "r": 20, "t": 10, "b": 30})
    return figure


def verify_by_classifier(
    head: PairClassifier, name: str, probe: Face | None, other: Face | None, person_id: str | None
) -> None:
    """The same comparison scored by a learned head: a probability, higher meaning the same
    person, against a probability threshold (the head's own, else 0.5)."""
    trained_on = head.metadata.get("trained_on") or "unknown pairs"
    threshold = st.slider(
        "Decision threshold (probability)",
        min_value=0.0,
        max_value=1.0,
        value=round(head.threshold, 2),
        step=0.01,
        key=f"verify_head_threshold_{name}",
        help="At or above it: same person. Higher is stricter.",
    )
    default = (
        f"the head {md_literal(name)}'s default {head.threshold:.2f} "
        f"(trained on {md_literal(trained_on)})"
    )
    source = default if abs(threshold - round(head.threshold, 2)) < 1e-9 else "set with the slider"
    st.caption(f"Default {head.threshold:.2f}: {default}.")
    decision: PairDecision | None = None
    enrolled: tuple[bytes | None, str] | None = None
    try:
        if probe is not None and other is not None:
            decision = verify_with_classifier(
                head, probe.embedding, other.embedding, threshold, source
            )
        elif probe is not None and person_id is not None:
            gallery = open_gallery()
            references = gallery.person_embeddings(person_id)
            if len(references) == 0:
                name_of = gallery.get_person(person_id).name
                raise EmptyGallery(f"{name_of} has no enrolled faces to compare with")
            decision = verify_with_classifier(head, probe.embedding, references, threshold, source)
            best = gallery.faces_of(person_id)[decision.reference]
            enrolled = (gallery.chip_png(best.id), "best-scoring enrolled face")
    except VisionLabError as exc:
        show_error(exc)
    if decision is None:
        return
    with verdict_area(enrolled):
        show_verdict(
            decision.same,
            decision.margin,
            ("above", "below"),
            {
                "Probability (same person)": f"{decision.probability:.3f}",
                "Threshold": f"{decision.threshold:.2f}",
                "Margin (probability − threshold)": f"{decision.margin:+.3f}",
            },
        )
    st.write(
        f"The {head.name} is a logistic regression on the two descriptors' per-dimension "
        "differences, trained on labelled pairs in the **Threshold lab**: it answers with the "
        "probability that the two faces are one person."
    )


st.title("Verify")
mode = st.radio("Compare", [TWO_PHOTOS, CLAIMED], horizontal=True, key="verify_mode")
left, right = st.columns(2)
with left:
    probe = one_face("Photo A", key="verify_a")
with right:
    other = person_id = None
    if mode == TWO_PHOTOS:
        other = one_face("Photo B", key="verify_b")
    else:
        people = {p.id: p for p in open_gallery().people()}
        if not people:
            st.info("The gallery is empty. Enrol people on the **Enrol** page first.")
        else:
            person_id = st.selectbox(
                "Claimed identity",
                list(people),
                index=None,  # no verdict against a person the user never chose
                placeholder="Choose a person",
                format_func=lambda pid: (
                    f"{people[pid].name} ({counted(people[pid].face_count, 'face')})"
                ),
                key="verify_person",
            )

heads = saved_pair_classifiers(settings().data_dir, face_pipeline().model_id)
scorer = DISTANCE
if heads:
    scorer = st.selectbox(
        "Scorer",
        [DISTANCE, *heads],
        key="verify_scorer",
        format_func=lambda name: "distance" if name == DISTANCE else f"head {name} (probability)",
        help="A learned verification head trained in the Threshold lab, or the plain distance.",
    )
if scorer != DISTANCE:
    try:
        head = PairClassifier.load(heads[scorer], face_pipeline().model_id)
    except VisionLabError as exc:
        show_error(exc)
        st.stop()
    verify_by_classifier(
        head,
        scorer,
        probe,
        other,
        person_id,
    )
    st.stop()

threshold = threshold_slider("verify_threshold")
result: VerificationResult | None = None
enrolled: tuple[bytes | None, str] | None = None
try:
    if probe is not None and other is not None:
        result = verify_embeddings(
            probe.embedding,
            other.embedding,
            threshold.value,
            face_pipeline().model_id,
            threshold.source,
        )
    elif probe is not None and person_id is not None:
        gallery = open_gallery()
        check = verify_claim(
            gallery, probe.embedding, person_id, threshold, face_pipeline().model_id
        )
        result = check.result
        enrolled = (
            gallery.chip_png(check.match.face_id),
            f"{check.match.person.name}, nearest enrolled",
        )
except VisionLabError as exc:
    show_error(exc)

if result is not None:
    with verdict_area(enrolled):
        show_verdict(
            result.same,
            result.margin,
            ("inside", "past"),
            {
                "Distance": f"{result.distance:.3f}",
                "Threshold": f"{result.threshold:.2f}",
                "Margin (threshold − distance)": f"{result.margin:+.3f}",
            },
        )
    st.write(
        "The distance is how far apart the two faces' 128-number descriptors lie: the model "
        "puts photos of one person close together, so at or below the threshold it calls them "
        "the same person, and the further from the threshold, the surer the call."
    )
    st.plotly_chart(
        distance_gauge(result.distance, result.threshold, result.same),
        config={"displayModeBar": False},
        key="verify_gauge",
    )
