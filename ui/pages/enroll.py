"""Enroll: put people's faces into the gallery, photo by photo or a whole folder at once.

Bulk takes an uploaded zip from everyone; admins may also name a server folder under the roots
the operator allowed (``ui.widgets.data_source``).
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
from store.names import MAX_NAME_LENGTH, clean_name
from ui.widgets.data_source import data_source, finish_upload
from ui.widgets.face_widgets import analyze, image_inputs, open_gallery, pick_face, show_error
from ui.widgets.jobs import heavy_job, queue_caption
from ui.widgets.plain_text import md_literal
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
        # Options are ids (a selectbox shows format_func's text as plain text): an existing
        # person is enrolled by id, so no name can stand for someone else.
        people = {p.id: p for p in gallery.people()}
        existing = st.selectbox(
            "Who is this?",
            [NEW_PERSON, *people],
            format_func=lambda pid: pid if pid == NEW_PERSON else people[pid].name,
            key="enroll_person",
        )
        typed = (
            st.text_input(
                "Name of the new person",
                max_chars=MAX_NAME_LENGTH,
                key="enroll_new_name",
                help=f"1–{MAX_NAME_LENGTH} characters; invisible and text-direction characters "
                "are not allowed.",
            ).strip()
            if existing == NEW_PERSON
            else ""
        )
        if st.button(
            f"Enrol {len(chosen)} face(s)",
            type="primary",
            disabled=existing == NEW_PERSON and not typed,
        ):
            try:
                # A new name is checked first (store.names): a refusal is one sentence.
                person = people[existing] if existing != NEW_PERSON else clean_name(typed)
                for analyzed, face in chosen:
                    new_face = NewFace.from_face(face, analyzed.sha256, face_pipeline().model_id)
                    result = gallery.enroll(person, new_face, create=True)
                    file, who = md_literal(analyzed.name), md_literal(result.person.name)
                    if result.status == "duplicate":
                        st.info(f"{file} was already enrolled for {who}.")
                    else:
                        st.success(f"Enrolled {file} as {who}.")
            except VisionLabError as exc:
                show_error(exc)


def _cancel_bulk() -> None:
    if st.session_state.get("bulk"):
        st.session_state.bulk["cancelled"] = True


def _show_summary(summary: EnrollSummary) -> None:
    if summary.stopped:
        st.error(
            f"{summary.stopped} The job stopped after {len(summary.outcomes)} of "
            f"{summary.total} images; what was enrolled stays enrolled."
        )
    elif summary.cancelled:
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
            st.text("\n".join(summary.ignored))  # file names are the uploader's text


with bulk_tab:
    st.write(
        "One sub-folder per person, named after them: `Eileen_Collins/photo1.jpg`, … "
        "(underscores read as spaces). Photos with several faces are skipped — in bulk there "
        "is nobody to ask which face is the person."
    )
    source = data_source("bulk")
    st.caption(queue_caption())
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
            bar.progress(done / total, text=f"{done} / {total}: {md_literal(outcome.item)}")

        try:
            with heavy_job("bulk enrolment", should_stop=lambda: state["cancelled"]):
                state["summary"] = enroll_folder(
                    face_pipeline(),
                    gallery,
                    source.root,
                    progress=_progress,
                    should_stop=lambda: state["cancelled"],
                )
        except VisionLabError as exc:
            st.session_state.bulk = None
            show_error(exc)
        else:
            if source.uploaded:  # done: the files go now (a cancelled job keeps them to resume)
                finish_upload("bulk")
        bar.empty()
    state = st.session_state.get("bulk")
    if state is not None:
        _show_summary(
            state["summary"]
            or EnrollSummary(tuple(state["outcomes"]), state["total"], cancelled=True)
        )
