"""The "which model embeds faces" section of the Train page: list, choose, re-embed, go back."""

from __future__ import annotations

import streamlit as st

from engine.errors import VisionLabError
from engine.faces.weights import FACE_RESNET_V1
from engine.training.models import (
    active_model_id,
    list_trained_models,
    load_usable_projection,
    set_active_model,
)
from engine.training.reembed import reembed_gallery
from ui.widgets.access import ADMIN_ONLY, current_actor, is_admin
from ui.widgets.face_widgets import flash, show_error
from ui.widgets.jobs import heavy_job
from ui.widgets.resources import active_model_problem, face_pipeline, gallery_for, settings

STOP = "reembed_stop"
WHY_REEMBED = (
    "Distances only mean something between vectors of the **same** model: a trained head maps "
    "every face to a new place, so the gallery's stored base-model vectors cannot be compared "
    "with the new model's. Switching therefore gives every enrolled face a vector of the new "
    "model — the head applied to its stored vector, no photo needed. The base vectors stay, so "
    "switching back is instant; deleting a person removes the vectors of every model."
)


def _describe(model_id: str) -> str:
    if model_id == FACE_RESNET_V1.model_id:
        return f"{model_id} (pretrained face ResNet)"
    meta = next(
        (m.metadata for m in list_trained_models(settings().data_dir) if m.model_id == model_id),
        {},
    )
    evaluation = meta.get("evaluation", {})
    figure = next(
        (
            f", accuracy {evaluation[name]['after']['accuracy']:.2%} on {what}"
            for name, what in (("eval", "its eval pairs"), ("held-out", "held-out people"))
            if name in evaluation
        ),
        "",
    )
    return f"{model_id} ({meta.get('miner', '?')}, {meta.get('created', '?')}{figure})"


def _stop() -> None:
    st.session_state[STOP] = True


def _switch_to(model_id: str) -> None:
    """Re-embed the gallery for ``model_id`` (progress bar, Stop), then make it the model in
    use. A stopped re-embedding switches nothing; the faces done are kept for the next try."""
    data_dir = settings().data_dir
    base_id = FACE_RESNET_V1.model_id
    if model_id != base_id:
        head = load_usable_projection(data_dir, model_id, base_id)
        st.session_state[STOP] = False
        st.button("Stop", key="reembed_stop_button", on_click=_stop)
        bar = st.progress(0.0, text="Re-embedding the gallery…")

        def show(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Re-embedding faces: {done:,} / {total:,}")

        stop = lambda: bool(st.session_state.get(STOP))  # noqa: E731
        with heavy_job("re-embedding of the gallery", should_stop=stop):
            summary = reembed_gallery(
                gallery_for(base_id),
                gallery_for(model_id),
                head.project,
                progress=show,
                should_stop=stop,
                actor=current_actor(),
            )
        if summary.cancelled:
            st.warning(
                f"Stopped after {summary.written:,} of {summary.faces:,} faces; still using "
                f"{face_pipeline().model_id}. Switch again to finish (done faces are kept)."
            )
            return
        lost = f"; {summary.without_chip} without a stored chip" if summary.without_chip else ""
        flash(
            f"Now using {model_id}. Gallery re-embedded: {summary.written:,} faces new, "
            f"{summary.already:,} already there{lost}."
        )
    else:
        flash(f"Back to the pretrained model {base_id}.")
    set_active_model(data_dir, model_id, base_id, actor=current_actor())
    st.rerun()


def model_choice_section() -> None:
    """Which model Enrol / Verify / Recognize use, and the control to change it."""
    st.subheader("Model in use")
    problem = active_model_problem()
    if problem:
        st.warning(f"{problem}. The pretrained model is in use instead.")
    current = face_pipeline().model_id
    st.write(f"Enrol, Verify and Recognize embed faces with **{_describe(current)}**.")
    trained = [
        m.model_id
        for m in list_trained_models(settings().data_dir, FACE_RESNET_V1.model_id)
        if m.metadata.get("levels") is None  # fine-tuned ResNets: CLI evaluation only, for now
    ]
    if not trained:
        st.caption("No trained model saved yet: train one above and save it.")
        return
    choices = [FACE_RESNET_V1.model_id, *trained]
    chosen = st.selectbox(
        "Model",
        choices,
        index=choices.index(current) if current in choices else 0,
        format_func=_describe,
        key="model_choice",
    )
    st.caption(WHY_REEMBED)
    if chosen == (active_model_id(settings().data_dir) or FACE_RESNET_V1.model_id):
        return
    label = "Use the pretrained model" if chosen == FACE_RESNET_V1.model_id else "Use this model"
    if not is_admin():
        st.caption(ADMIN_ONLY)
    if st.button(label, key="model_use", type="primary", disabled=not is_admin()):
        try:
            _switch_to(chosen)
        except VisionLabError as exc:
            show_error(exc)
