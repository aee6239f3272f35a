"""Enrol: put people's faces into the gallery, photo by photo or a whole folder at once.

Bulk takes an uploaded zip from everyone; admins may also name a server folder under the roots
the operator allowed (``ui.widgets.data_source``).
"""

import time

import streamlit as st

from engine.enrollment import (
    MAIN_FACE_AREA_RATIO,
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
from ui.widgets.pace import pace_text
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import face_pipeline

NEW_PERSON = "New person…"
# How many times the photo form was cleared: its uploader's key changes with it, which is how
# Streamlit empties a file uploader.
FORM_KEY = "enroll_form"
# What the last enrolment said, kept to show once the form is cleared.
MESSAGES_KEY = "enroll_messages"


def _photos_key() -> str:
    form = st.session_state.get(FORM_KEY, 0)
    return "enroll" if form == 0 else f"enroll_{form}"


def _enrol_label(count: int) -> str:
    return f"Enrol {count} face" if count == 1 else f"Enrol {count} faces"


def _enrol_chosen(chosen: list, person_id: str | None, typed: str) -> None:
    """The Enrol button's callback: enrol, keep the messages, clear the form when all went in."""
    messages: list[tuple[str, str | VisionLabError]] = []
    st.session_state[MESSAGES_KEY] = messages
    try:
        # A new name is checked first (store.names): a refusal is one sentence.
        person = gallery.get_person(person_id) if person_id else clean_name(typed)
        for analyzed, face in chosen:
            new_face = NewFace.from_face(face, analyzed.sha256, face_pipeline().model_id)
            result = gallery.enroll(person, new_face, create=True)
            file, who = md_literal(analyzed.name), md_literal(result.person.name)
            if result.status == "duplicate":
                messages.append(("info", f"{file} was already enrolled for {who}."))
            else:
                messages.append(("success", f"Enrolled {file} as {who}."))
    except VisionLabError as exc:
        messages.append(("error", exc))  # the form stays as it was, to fix and retry
        return
    st.session_state[FORM_KEY] = st.session_state.get(FORM_KEY, 0) + 1
    st.session_state.pop("enroll_new_name", None)
    st.session_state.pop("enroll_person", None)


st.title("Enrol")
st.write(
    "Add people to the gallery so **Recognize** can name them and **Verify** can check a "
    "claimed identity. Each photo enrols one face."
)
gallery = open_gallery()
photos_tab, bulk_tab = st.tabs(["Photos of one person", "Bulk: a zip or folder"])

with photos_tab:
    for kind, message in st.session_state.pop(MESSAGES_KEY, []):
        {"error": show_error, "info": st.info, "success": st.success}[kind](message)
    chosen = []
    photos = image_inputs("Photos (one or several, all of the same person)", key=_photos_key())
    for upload in photos:
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
        st.button(
            _enrol_label(len(chosen)),
            type="primary",
            disabled=existing == NEW_PERSON and not typed,
            on_click=_enrol_chosen,
            args=(chosen, None if existing == NEW_PERSON else existing, typed),
        )


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
    if summary.main_face_taken or summary.several_faces:
        st.caption(
            f"Photos with several faces: main face taken {summary.main_face_taken} "
            f"(counted as enrolled), skipped {summary.several_faces}."
        )
    listed = [o for o in summary.outcomes if o.outcome != "enrolled" or o.main_face]
    if listed:
        st.dataframe(
            [
                {
                    "file": o.item,
                    "person": o.person,
                    "outcome": o.label,
                    "why": o.reason,
                }
                for o in listed
            ],
            hide_index=True,
        )
    if summary.ignored:
        with st.expander(f"{len(summary.ignored)} files ignored"):
            st.text("\n".join(summary.ignored))  # file names are the uploader's text


with bulk_tab:
    st.write(
        "One sub-folder per person, named after them: `Eileen_Collins/photo1.jpg`, … "
        "(underscores read as spaces). Photos already in the gallery are recognised by their "
        "bytes and skipped at once. Photos with several faces are skipped — in bulk there is "
        "nobody to ask which face is the person — unless you let the main face be taken."
    )
    source = data_source("bulk")
    take_main_face = st.checkbox(
        "Take the main face when one clearly dominates",
        value=True,
        key="bulk_main_face",
        help=f"From a photo with several faces, enrol the largest one when it is at least "
        f"{MAIN_FACE_AREA_RATIO:g}× the area of every other and the photo is centred on it. "
        "Other several-face photos are skipped and listed.",
    )
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
        cancel = st.empty()
        cancel.button("Cancel", on_click=_cancel_bulk, key="bulk_cancel")
        bar = st.progress(0.0, text="Reading the file list…")
        started = time.monotonic()

        def _progress(done: int, total: int, outcome: FileOutcome) -> None:
            state["outcomes"].append(outcome)
            state["total"] = total
            bar.progress(
                done / total,
                text=f"{done} / {total} · {pace_text(done, total, time.monotonic() - started)}: "
                f"{md_literal(outcome.item)}",
            )

        try:
            with heavy_job("bulk enrolment", should_stop=lambda: state["cancelled"]):
                state["summary"] = enroll_folder(
                    face_pipeline(),
                    gallery,
                    source.root,
                    progress=_progress,
                    should_stop=lambda: state["cancelled"],
                    take_main_face=take_main_face,
                )
        except VisionLabError as exc:
            st.session_state.bulk = None
            show_error(exc)
        else:
            if source.uploaded:  # done: the files go now (a cancelled job keeps them to resume)
                finish_upload("bulk")
        bar.empty()
        cancel.empty()  # the job is over: nothing left to cancel
    state = st.session_state.get("bulk")
    if state is not None:
        _show_summary(
            state["summary"]
            or EnrollSummary(tuple(state["outcomes"]), state["total"], cancelled=True)
        )
