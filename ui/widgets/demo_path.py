"""Home's demo path: a first-time visitor enrols, verifies and recognizes the photos that packages
ship (scikit-image's astronaut, Eileen Collins; matplotlib's Grace Hopper) in three clicks.

Each step makes the same engine and store calls as its full page — ``gallery.enroll`` as Enrol
does, ``verify_embeddings`` as Verify does for two photos, ``identify_faces`` as Recognize does —
through the session's ``GuardedGallery`` and the cached pipeline, at the default threshold. No
rule lives here: only which photo goes in and how the answer is worded.

Results are kept in the session, so a later step's click does not wipe an earlier one's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from engine.concepts.quiz import sample_photos
from engine.enrollment import image_sha256
from engine.errors import VisionLabError
from engine.open_set import recognize_threshold
from engine.permissions import Action, PermissionDenied
from engine.verification import default_threshold, identify_faces, verify_embeddings
from store import NewFace
from ui.widgets.access import current_actor
from ui.widgets.face_widgets import open_gallery, show_error
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import face_pipeline, settings

DEMO_NAME = "Eileen Collins"
"""Who scikit-image's astronaut is (NASA photo of Eileen Collins), as the browser tests name her."""

_RESULTS = "demo_path_results"


@dataclass(frozen=True)
class DemoPhotos:
    astronaut: np.ndarray
    mirror: np.ndarray
    """The astronaut flipped left to right: the same person in a photo the model has not seen."""
    group: np.ndarray
    """The mirror image (left) beside Grace Hopper (right): one photo, two faces, and not the
    enrolled photo again (its distance would be 0)."""


@st.cache_resource
def demo_photos() -> DemoPhotos:
    astronaut, grace = sample_photos()
    height = astronaut.shape[0]
    width = round(grace.shape[1] * height / grace.shape[0])
    grace = np.asarray(Image.fromarray(grace).resize((width, height)))
    return DemoPhotos(
        astronaut,
        np.ascontiguousarray(astronaut[:, ::-1]),
        np.ascontiguousarray(np.concatenate([astronaut[:, ::-1], grace], axis=1)),
    )


def _enrol_astronaut() -> tuple[str, str]:
    pipeline = face_pipeline()
    photo = demo_photos().astronaut
    [face] = pipeline.analyze(photo)
    new_face = NewFace.from_face(face, image_sha256(photo.tobytes()), pipeline.model_id)
    result = open_gallery().enroll(DEMO_NAME, new_face, create=True)
    who = md_literal(result.person.name)
    if result.status == "duplicate":
        return "info", f"The astronaut was already enrolled as {who}: nothing to add."
    return "success", f"Enrolled the astronaut as {who}."


def _verify_mirror() -> tuple[str, str]:
    pipeline = face_pipeline()
    photos = demo_photos()
    [a] = pipeline.analyze(photos.astronaut)
    [b] = pipeline.analyze(photos.mirror)
    threshold = default_threshold(settings(), pipeline.model_id)
    result = verify_embeddings(
        a.embedding, b.embedding, threshold.value, pipeline.model_id, threshold.source
    )
    figures = f"distance {result.distance:.3f}, threshold {result.threshold:.2f}"
    if result.same:
        return "success", f"**Same person**: the astronaut and her mirror image ({figures})."
    return "warning", f"**Different people**, says the model ({figures})."


def _recognize_group() -> tuple[str, str]:
    pipeline = face_pipeline()
    gallery = open_gallery()
    if gallery.count_faces() == 0:
        return "info", "The gallery is empty: enrol the astronaut first (step 1)."
    faces = pipeline.analyze(demo_photos().group)
    # open-set, as the Recognize page: every face is compared with every enrolled person
    threshold = recognize_threshold(settings(), pipeline.model_id, gallery.count_people())
    result = identify_faces(gallery, faces, threshold, pipeline.model_id, top_k=1)
    lines = []
    for identified in result.faces:
        side = "left" if identified.box.left < demo_photos().astronaut.shape[1] else "right"
        if identified.known and identified.best is not None:
            lines.append(
                f"Face {identified.index + 1} ({side}): **{md_literal(identified.name)}**, "
                f"distance {identified.best.distance:.3f}"
            )
        else:
            lines.append(f"Face {identified.index + 1} ({side}): unknown")
    return "success", f"{len(faces)} faces found. " + "; ".join(lines) + "."


_STEPS = {"enrol": _enrol_astronaut, "verify": _verify_mirror, "recognize": _recognize_group}


def _run_step(step: str) -> None:
    results = st.session_state.setdefault(_RESULTS, {})
    try:
        with st.spinner("Running the face models…"):
            results[step] = _STEPS[step]()
    except VisionLabError as exc:
        results.pop(step, None)
        show_error(exc)


def _show_result(step: str) -> None:
    kind, text = st.session_state.get(_RESULTS, {}).get(step, (None, None))
    if kind is not None:
        getattr(st, kind)(text)


def demo_path() -> None:
    """Three numbered steps side by side, each with its photo, its button, its answer and a
    link to the page that does the same with the visitor's own photos."""
    st.subheader("New here? Three clicks")
    st.write(
        "The photos below ship with scikit-image and matplotlib. Each button does what its page "
        "does, at the default threshold."
    )
    actor = current_actor()
    may_enrol = actor.may(Action.ENROL)
    may_recognize = actor.may(Action.RECOGNIZE)
    photos = demo_photos()
    enrol, verify, recognize = st.columns(3)
    with enrol:
        st.image(photos.astronaut, caption=f"The astronaut: {DEMO_NAME}", width=160)
        if st.button("1. Enrol the astronaut", key="demo_enrol", disabled=not may_enrol):
            _run_step("enrol")
        if not may_enrol:
            st.info(f"{PermissionDenied(actor.role, Action.ENROL)} Step 2 needs no gallery.")
        _show_result("enrol")
        st.page_link(
            "ui/pages/enroll.py", label="Enrol your own photos", icon=":material/person_add:"
        )
    with verify:
        st.image(photos.mirror, caption="Her mirror image", width=160)
        if st.button("2. Verify her mirror image", key="demo_verify"):
            _run_step("verify")
        _show_result("verify")
        st.page_link("ui/pages/verify.py", label="Verify two photos", icon=":material/how_to_reg:")
    with recognize:
        st.image(photos.group, caption="Her mirror image beside Grace Hopper", width=320)
        if st.button(
            "3. Recognize her in a two-face photo",
            key="demo_recognize",
            disabled=not may_recognize,
        ):
            _run_step("recognize")
        _show_result("recognize")
        st.page_link("ui/pages/recognize.py", label="Recognize faces", icon=":material/face:")
