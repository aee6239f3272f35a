"""Enroll: put people's faces into the gallery, photo by photo or a whole folder at once.

The folder field reads the server's own disk: it is meant for running the app locally.
"""

import streamlit as st

from engine.enrollment import (
    OUTCOME_LABELS,
    OUTCOMES,
    EnrollSummary,
    FileOutcome,
    enroll_folder,
)
from engine.errors import VisionLabError
from store import NewFace
from ui.widgets.face_widgets import analyze, image_inputs, open_gallery, pick_face, show_error
from ui.widgets.resources import face_pipeline

NEW_PERSON = "➕ New person"

st.title("Enroll")
st.write(
    "Add people to the gallery so **Recognize** can name them and **Verify** can check a "
    "claimed identity. Each photo enrols one face."
)
gallery = open_gallery()
photos_tab, bulk_tab = st.tabs(["Photos of one person", "Bulk: a zip or folder"])

with photos_tab:
    chosen = []
    for upload in image_inputs("Photos (one or several, all of the same person)", key="enroll"):
        analyzed = analyze(upload)
        face = pick_face(analyzed, key=f"enroll_pick_{analyzed.sha256[:12]}")
        if face is not None:
            chosen.append((analyzed, face))
    if chosen:
        names = [p.name for p in gallery.people()]
        existing = st.selectbox("Who is this?", [NEW_PERSON, *names], key="enroll_person")
        name = (
            st.text_input("Name of the new person", key="enroll_new_name").strip()
            if existing == NEW_PERSON
            else existing
        )
        if st.button(f"Enrol {len(chosen)} face(s)", type="primary", disabled=not name):
            try:
                for analyzed, face in chosen:
                    new_face = NewFace.from_face(face, analyzed.sha256, face_pipeline().model_id)
                    result = gallery.enroll(name, new_face, create=True)
                    if result.status == "duplicate":
                        st.info(f"{analyzed.name} was already enrolled for {result.person.name}.")
                    else:
                        st.success(f"Enrolled {analyzed.name} as {result.person.name}.")
            except VisionLabError as exc:
                show_error(exc)


def _cancel_bulk() -> None:
    if st.session_state.get("bulk"):
        st.session_state.bulk["cancelled"] = True


def _show_summary(summary: EnrollSummary) -> None:
    if summary.cancelled:
        of_total = f" of {summary.total}" if summary.total else ""
        st.warning(
            f"Cancelled after {len(summary.outcomes)}{of_total} images; "
            "what was enrolled stays enrolled."
        )
    else:
        st.success(f"Done: {summary.total} images, {len(summary.people)} people received faces.")
    for column, outcome in zip(st.columns(len(OUTCOMES)), OUTCOMES, strict=True):
        column.metric(OUTCOME_LABELS[outcome].capitalize(), summary.count(outcome))
    skipped = [o for o in summary.outcomes if o.outcome != "enrolled"]
    if skipped:
        st.dataframe(
            [
                {
                    "file": o.item,
                    "person": o.person,
                    "outcome": OUTCOME_LABELS[o.outcome],
                    "why": o.reason,
                }
                for o in skipped
            ],
            hide_index=True,
        )
    if summary.ignored:
        with st.expander(f"{len(summary.ignored)} files ignored"):
            st.write("\n".join(f"- {line}" for line in summary.ignored))


with bulk_tab:
    st.write(
        "One sub-folder per person, named after them: `Eileen_Collins/photo1.jpg`, … "
        "(underscores read as spaces). Photos with several faces are skipped — in bulk there "
        "is nobody to ask which face is the person."
    )
    archive = st.file_uploader("A zip file", type=["zip"], key="bulk_zip")
    folder = st.text_input("…or a folder on this computer", key="bulk_folder").strip()
    source = archive if archive is not None else folder or None
    if st.button("Start bulk enrolment", type="primary", disabled=source is None):
        state = st.session_state.bulk = {
            "outcomes": [],
            "total": 0,
            "cancelled": False,
            "summary": None,
        }
        # Clicking Cancel interrupts this run; its callback marks the job cancelled so the
        # next run shows the summary so far instead of starting again.
        st.button("Cancel", on_click=_cancel_bulk, key="bulk_cancel")
        bar = st.progress(0.0, text="Reading the file list…")

        def _progress(done: int, total: int, outcome: FileOutcome) -> None:
            state["outcomes"].append(outcome)
            state["total"] = total
            bar.progress(done / total, text=f"{done} / {total}: {outcome.item}")

        try:
            state["summary"] = enroll_folder(
                face_pipeline(),
                gallery,
                source,
                progress=_progress,
                should_stop=lambda: state["cancelled"],
            )
        except VisionLabError as exc:
            st.session_state.bulk = None
            show_error(exc)
        bar.empty()
    state = st.session_state.get("bulk")
    if state is not None:
        _show_summary(
            state["summary"]
            or EnrollSummary(tuple(state["outcomes"]), state["total"], cancelled=True)
        )
