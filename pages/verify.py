"""Verify: are two faces the same person? Photo against photo, or photo against a claimed
enrolled person."""

import plotly.graph_objects as go
import streamlit as st

from engine.errors import VisionLabError
from engine.verification import VerificationResult, verify_claim, verify_embeddings
from pages.face_widgets import chip_image, one_face, open_gallery, show_error, threshold_slider
from pages.resources import face_pipeline

TWO_PHOTOS = "Two photos"
CLAIMED = "A photo and an enrolled person"

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
            st.info("The gallery is empty. Enrol people on the **Enroll** page first.")
        else:
            person_id = st.selectbox(
                "Claimed identity",
                list(people),
                format_func=lambda pid: f"{people[pid].name} ({people[pid].face_count} faces)",
                key="verify_person",
            )

threshold = threshold_slider("verify_threshold")
result: VerificationResult | None = None
chips = st.columns([1, 1, 3])
try:
    if probe is not None and other is not None:
        result = verify_embeddings(
            probe[1].embedding,
            other[1].embedding,
            threshold.value,
            face_pipeline().model_id,
            threshold.source,
        )
        chips[0].image(probe[1].chip, caption="A", width=120)
        chips[1].image(other[1].chip, caption="B", width=120)
    elif probe is not None and person_id is not None:
        check = verify_claim(
            open_gallery(), probe[1].embedding, person_id, threshold, face_pipeline().model_id
        )
        result = check.result
        chips[0].image(probe[1].chip, caption="A", width=120)
        with chips[1]:
            chip_image(check.match.chip_path, f"{check.match.person.name}, nearest enrolled")
except VisionLabError as exc:
    show_error(exc)

if result is not None:
    with chips[2]:
        if result.same:
            st.success(f"**Same person** — {result.margin:.3f} inside the threshold.")
        else:
            st.warning(f"**Different people** — {-result.margin:.3f} past the threshold.")
        a, b, c = st.columns(3)
        a.metric("Distance", f"{result.distance:.3f}")
        b.metric("Threshold", f"{result.threshold:.2f}")
        c.metric("Margin (threshold − distance)", f"{result.margin:+.3f}")
    st.write(
        "The distance is how far apart the two faces' 128-number descriptors lie: the model "
        "puts photos of one person close together, so at or below the threshold it calls them "
        "the same person, and the further from the threshold, the surer the call."
    )
    figure = go.Figure(
        go.Indicator(
            mode="number+gauge",
            value=result.distance,
            number={"valueformat": ".3f"},
            gauge={
                "shape": "bullet",
                "axis": {"range": [0, max(1.2, result.distance * 1.1)]},
                "threshold": {"value": result.threshold, "line": {"color": "red", "width": 3}},
                "bar": {"color": "seagreen" if result.same else "darkorange"},
            },
        )
    )
    figure.update_layout(height=110, margin={"l": 20, "r": 20, "t": 10, "b": 10})
    st.plotly_chart(figure, config={"displayModeBar": False})
