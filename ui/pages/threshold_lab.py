"""Threshold lab: which threshold to trust, measured on the analyst's own labelled pairs.

Pairs come from the analyst's own labelled photos — an uploaded zip laid out
``<person>/<images>``, with an LFW-format pairs file in its root or not (admins may also name a
server folder under the allowed roots; see ``ui.widgets.data_source``) — or from the enrolled
gallery. The page shows how genuine and impostor scores overlap, the errors at any threshold,
ROC / DET / TAR at fixed FARs and the worst errors; saves the operating point Verify uses and,
on the gallery's open-set searches, Recognize's; and trains a verification head to compare
with the plain distance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from engine.errors import VisionLabError
from engine.evaluation.gallery import gallery_searches, open_set_report
from engine.evaluation.metrics import FAR_TARGETS, dir_at_fpir
from engine.evaluation.operating_point import (
    OPEN_SET_FPIR_CHOICES,
    default_open_set_fpir,
    open_set_point_at,
    open_set_point_problem,
    operating_point,
    save_open_set_point,
    save_operating_point,
)
from engine.evaluation.pair_classifier import (
    FEATURE_LABELS,
    FEATURES,
    PairClassifier,
    saved_pair_classifiers,
)
from engine.evaluation.protocol import (
    errors_by_identity,
    pair_scores,
    run_evaluation,
    scores_csv,
    worst_errors,
)
from engine.evaluation.scoring import DistanceScorer, evaluate
from engine.open_set import recognize_threshold
from engine.permissions import Action
from engine.verification import default_threshold
from ui.widgets import lab_charts
from ui.widgets.access import ADMIN_ONLY, current_actor
from ui.widgets.face_widgets import show_error, show_flash
from ui.widgets.labelled_pairs import labelled_pairs, show_pairs
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import settings

BY_HAND, AT_FAR, AT_EER = "By hand", "At a target FAR", "At the EER"
SAVED_KEY = "lab_saved"


def note_saved(button_key: str, message: str) -> None:
    """Keep a save's confirmation for the run after the ``st.rerun()`` that follows it."""
    st.session_state[SAVED_KEY] = (button_key, message)


def show_saved(button_key: str) -> None:
    """The confirmation of the save just made with ``button_key``, right below that button
    (not at the top of the page, thousands of pixels out of view). Shown on the one run after
    the save (``just_saved`` is taken from the session when the script starts), never later."""
    if just_saved is not None and just_saved[0] == button_key:
        st.success(just_saved[1])


def roc_chart(reports: dict, key: str) -> None:
    """The ROC zoomed to TAR ≥ 0.9 (where good models differ), the full range a toggle away."""
    full = st.toggle("Full ROC range", key=f"{key}_full")
    st.plotly_chart(lab_charts.roc_figure(reports, zoomed=not full), key=key)


just_saved: tuple[str, str] | None = st.session_state.pop(SAVED_KEY, None)
st.title("Threshold lab")
st.write(
    "Which threshold to trust, measured on your own labelled pairs: how far apart photos of "
    "one person and of different people land, and what each threshold costs in strangers "
    "matched (false accepts) and people missed (false rejects)."
)
show_flash()
built = labelled_pairs("lab", "Embed and evaluate")
if built is None:
    st.stop()
embedded, faces = built
notes = [embedded.pairs.note]
notes += [f"{label}: {count:,}" for label, count in embedded.status_counts().items()]
if embedded.dropped_pairs:
    notes.append(f"{embedded.dropped_pairs:,} pairs dropped (an image without embedding)")
st.caption(md_literal(" · ".join(notes)))  # the pairs' note names the user's files

heads = saved_pair_classifiers(settings().data_dir, embedded.model_id)
scorer_name = st.selectbox(
    "Scorer",
    ["distance", *heads],
    key="lab_scorer",
    format_func=lambda name: "distance (lower = same)" if name == "distance" else f"head {name}",
)
scorer = (
    DistanceScorer()
    if scorer_name == "distance"
    else PairClassifier.load(heads[scorer_name], embedded.model_id)
)
scores = pair_scores(scorer, embedded)
if scores.same.all() or not scores.same.any():
    st.error("These pairs need both genuine and impostor pairs to be evaluated.")
    st.stop()
report = evaluate(scores)

columns = st.columns(4)
columns[0].metric("Accuracy", f"{report.accuracy:.2%}", help=report.protocol)
columns[1].metric("ROC AUC", f"{report.roc_auc:.4f}")
columns[2].metric("EER", f"{report.eer:.2%}", help=f"at threshold {report.eer_threshold:.3f}")
columns[3].metric("d′", f"{report.d_prime:.2f}", help="|μg − μi| / √((σg² + σi²) / 2)")
st.caption(f"Accuracy: {report.protocol}.")

# Threshold: chosen by a rule (the slider follows it) or by hand.
method = st.radio(
    "Choose the threshold", [BY_HAND, AT_FAR, AT_EER], horizontal=True, key="lab_method"
)
high = 1.0 if scores.higher_is_same else float(max(1.2, np.ceil(scores.values.max() * 20) / 20))
slider_key = "lab_threshold_probability" if scores.higher_is_same else "lab_threshold_distance"
chosen: float | None = None
far_row = None
if method == AT_FAR:
    target = st.selectbox(
        "Target FAR", FAR_TARGETS, index=1, format_func=lambda f: f"{f:.0e}", key="lab_far"
    )
    far_row = scores.tar_at_far(target)
    chosen = far_row.threshold
    if not far_row.measurable:
        st.warning(
            f"A FAR of {target:.0e} is not measurable here: it needs at least "
            f"{far_row.impostor_pairs_needed:,} impostor pairs and there are "
            f"{far_row.impostor_pairs:,}. The threshold shown accepted none of them, which "
            "says little about the rate."
        )
elif method == AT_EER:
    chosen = report.eer_threshold
if chosen is not None:
    st.session_state[slider_key] = float(np.clip(chosen, 0.0, high))
elif slider_key not in st.session_state:
    start = scorer.threshold if isinstance(scorer, PairClassifier) else None
    if start is None:
        start = default_threshold(settings(), embedded.model_id).value
    st.session_state[slider_key] = float(np.clip(start, 0.0, high))
threshold = st.slider(
    "Threshold (probability: at or above is the same person)"
    if scores.higher_is_same
    else "Threshold (distance: at or below is the same person)",
    min_value=0.0,
    max_value=high,
    step=0.001,
    format="%.3f",
    key=slider_key,
    disabled=chosen is not None,
)

errors = scores.errors_at(threshold)
columns = st.columns(4)
columns[0].metric("FAR", f"{errors.far:.3%}", help="impostor pairs accepted")
columns[1].metric("FRR", f"{errors.frr:.3%}", help="genuine pairs rejected")
columns[2].metric("TAR", f"{errors.tar:.3%}", help="genuine pairs accepted")
columns[3].metric("Accuracy at this threshold", f"{errors.accuracy:.2%}")
st.write(
    f"At {threshold:.3f}: **{errors.false_accepts:,}** of {errors.impostors:,} impostor pairs "
    f"accepted (false accepts), **{errors.false_rejects:,}** of {errors.genuine:,} genuine pairs "
    f"rejected (false rejects)."
)
st.plotly_chart(lab_charts.score_histograms(scores, threshold), key="lab_histogram")

reports = {scores.scorer: report}
if scores.higher_is_same:  # a head: the plain distance beside it, on the same pairs
    reports["distance"] = evaluate(pair_scores(DistanceScorer(), embedded))
left, right = st.columns(2)
with left:
    roc_chart(reports, "lab_roc")
right.plotly_chart(lab_charts.det_figure(report), key="lab_det")

st.subheader("TAR at fixed false accept rates")
st.dataframe(lab_charts.tar_at_far_rows(report.tar_at_far), hide_index=True, key="lab_far_table")
if report.fold_accuracies:
    st.subheader("k-fold accuracy")
    spread = float(np.std(report.fold_accuracies))
    st.write(
        f"{len(report.fold_accuracies)} folds, each at the threshold chosen on the others: "
        f"**{report.accuracy:.2%} ± {spread:.2%}**."
    )
    st.dataframe(lab_charts.fold_rows(report), hide_index=True, key="lab_folds")

st.subheader("Worst errors")
unit = "probability" if scores.higher_is_same else "distance"
impostors, genuine = worst_errors(embedded, scores, count=5)
left, right = st.columns(2)
with left:
    st.markdown("**Impostor pairs that look most alike**")
    show_pairs(embedded, impostors, unit)
with right:
    st.markdown("**Genuine pairs that look least alike**")
    show_pairs(embedded, genuine, unit)
by_person = lab_charts.errors_by_person_rows(errors_by_identity(embedded, scores, threshold))
if by_person:
    st.markdown(f"**Errors per person at {threshold:.3f}**")
    st.dataframe(by_person, hide_index=True, key="lab_by_person")
else:
    st.caption(f"No person has an error at {threshold:.3f}.")

if faces is not None:
    st.subheader("Open-set identification (leave one out)")
    st.write(
        "Each enrolled face searched against the rest of the gallery: **mated** searches leave "
        "only that face out, **non-mated** ones leave its whole person out, as a stranger."
    )
    state = st.session_state["lab"]
    if "searches" not in state:  # every face against every face: once per evaluation
        state["searches"] = gallery_searches(faces)
    searches = state["searches"]
    open_set = open_set_report(searches, max_rank=5)
    columns = st.columns(4)
    columns[0].metric("CMC rank-1", f"{open_set.cmc_at(1):.2%}")
    columns[1].metric("CMC rank-5", f"{open_set.cmc_at(5):.2%}")
    for column, row in zip(columns[2:], open_set.dir_at_fpir, strict=True):
        column.metric(
            f"DIR at FPIR {row.target_fpir:.0e}",
            f"{row.dir:.2%}" if row.measurable else "not measurable",
            help=f"{row.non_mated_searches:,} non-mated searches; "
            f"needs ≥ {round(1 / row.target_fpir):,}",
        )
    st.markdown("**Recognize's open-set threshold**")
    recognizing = recognize_threshold(settings(), faces.model_id, len(searches.people))
    st.caption(f"Recognize now uses {md_literal(recognizing.source)}.")
    target_fpir = st.selectbox(
        "Target FPIR (share of strangers named)",
        OPEN_SET_FPIR_CHOICES,
        index=OPEN_SET_FPIR_CHOICES.index(default_open_set_fpir(open_set.curve.non_mated_searches)),
        format_func=lambda f: f"{f:.0e} ({f:.1%})",
        key="lab_open_set_fpir",
    )
    chosen_row = dir_at_fpir(open_set.curve, target_fpir)
    problem = open_set_point_problem(chosen_row)
    if problem is None:
        st.write(
            f"At FPIR ≤ {target_fpir:.0e}: threshold **{chosen_row.threshold:.3f}**, DIR "
            f"**{chosen_row.dir:.2%}** (FPIR measured {chosen_row.achieved_fpir:.2%} on "
            f"{chosen_row.non_mated_searches:,} non-mated searches, {len(searches.people):,} "
            "people enrolled)."
        )
    else:
        st.warning(problem)
    st.plotly_chart(
        lab_charts.open_set_figure(open_set.curve, chosen_row if problem is None else None),
        key="lab_open_set",
    )
    may_save_open_set = current_actor().may(Action.SAVE_OPERATING_POINT)
    save_open_set = st.button(
        "Save as Recognize's open-set threshold",
        disabled=problem is not None or not may_save_open_set,
        help=None if may_save_open_set else ADMIN_ONLY,
        key="lab_save_open_set",
    )
    show_saved("lab_save_open_set")
    if save_open_set:
        try:
            saved_point = open_set_point_at(
                chosen_row,
                model_id=faces.model_id,
                gallery_size=len(searches.people),
                dataset=embedded.pairs.name,
            )
            save_open_set_point(settings().data_dir, saved_point, actor=current_actor())
        except VisionLabError as exc:
            show_error(exc)
            st.stop()
        except ValueError as exc:  # the choice cannot be measured: said above, as a warning
            st.error(str(exc))
            st.stop()
        note_saved(
            "lab_save_open_set",
            f"Saved {saved_point.threshold:.3f} (DIR {saved_point.dir:.2%}, FPIR "
            f"{saved_point.fpir:.2%} with {saved_point.gallery_size:,} people enrolled): "
            "Recognize now starts from it.",
        )
        st.rerun()

st.subheader("Operating point")
current = default_threshold(settings(), embedded.model_id)
st.caption(f"Verify now uses {current.value:.3f}: {md_literal(current.source)}.")
if scores.higher_is_same:
    st.info(
        "The saved operating point is a distance threshold: choose the distance scorer to save "
        "one. A head is chosen on the Verify page, where its threshold is a probability."
    )
else:
    rule = {BY_HAND: "by hand", AT_EER: "at the EER"}.get(method)
    if far_row is not None:
        rule = f"at FAR ≤ {far_row.target_far:.0e}"
    unmeasurable = far_row is not None and not far_row.measurable
    may_save_point = current_actor().may(Action.SAVE_OPERATING_POINT)
    save_point = st.button(
        f"Save {threshold:.3f} as the operating point ({rule})",
        disabled=unmeasurable or not may_save_point,
        help=None if may_save_point else ADMIN_ONLY,
        key="lab_save_point",
    )
    show_saved("lab_save_point")
    if save_point:
        point = operating_point(
            scores,
            threshold,
            model_id=embedded.model_id,
            dataset=embedded.pairs.name,
            method=rule or "",
        )
        try:
            save_operating_point(settings().data_dir, point, actor=current_actor())
        except VisionLabError as exc:
            show_error(exc)
            st.stop()
        note_saved(
            "lab_save_point",
            f"Saved {point.threshold:.3f} (FAR {point.far:.2%}, FRR {point.frr:.2%} on "
            f"{md_literal(point.dataset)}): Verify now starts from it.",
        )
        st.rerun()

st.subheader("Downloads")
dataset = {
    "name": embedded.pairs.name,
    "source": embedded.pairs.source,
    "note": embedded.pairs.note,
    "model_id": embedded.model_id,
    "augment": embedded.augment,
}
columns = st.columns(3)
columns[0].download_button(
    "Curves (CSV)", lab_charts.curves_csv(reports), "curves.csv", "text/csv", key="lab_dl_curves"
)
columns[1].download_button(
    "Report (JSON)",
    lab_charts.report_json(report, dataset, errors),
    "threshold-lab.json",
    "application/json",
    key="lab_dl_report",
)
columns[2].download_button(
    "Pair scores (CSV)",
    scores_csv(embedded, scores),
    "pair-scores.csv",
    "text/csv",
    key="lab_dl_scores",
)

# --- a learned verification head ----------------------------------------------------------------
st.subheader("Train a verification head")
st.write(
    "Verification as binary classification: a logistic regression on per-dimension features "
    "of the two descriptors, trained on other pairs and evaluated on the pairs above, beside "
    "the plain distance."
)
feature = st.radio(
    "Features", FEATURES, format_func=FEATURE_LABELS.get, horizontal=True, key="lab_feature"
)
st.markdown("**Training pairs** (not the pairs above, or the comparison flatters the head)")
training = labelled_pairs("lab_train", "Embed the training pairs")
if training is not None:
    train, _ = training
    setting = (feature, st.session_state["lab"]["inputs"], st.session_state["lab_train"]["inputs"])
    if st.button("Train and compare", key="lab_fit_head"):
        try:
            st.session_state["lab_head"] = {
                "setting": setting,
                "head": run_evaluation(feature, embedded, train),
                "distance": run_evaluation("distance", embedded, train),
            }
        except (VisionLabError, ValueError) as exc:
            st.error(str(exc))
    trained = st.session_state.get("lab_head")
    if trained and trained["setting"] == setting:
        head_eval, distance_eval = trained["head"], trained["distance"]
        compared = {"distance": distance_eval.report, head_eval.report.scorer: head_eval.report}
        st.dataframe(
            lab_charts.scorer_comparison_rows(compared), hide_index=True, key="lab_head_table"
        )
        st.caption(f"Thresholds chosen on the training pairs ({md_literal(train.pairs.name)}).")
        roc_chart(compared, "lab_head_roc")
        name = st.text_input(
            "Save as", value=f"{feature}-{Path(train.pairs.name).stem}", key="lab_head_name"
        )
        head = head_eval.head  # fitted on the training pairs
        may_save = current_actor().may(Action.SAVE_MODEL)
        save_head = head is not None and st.button(
            "Save head",
            key="lab_save_head",
            disabled=not name.strip() or not may_save,
            help=None if may_save else ADMIN_ONLY,
        )
        show_saved("lab_save_head")
        if save_head:
            metrics = head_eval.report.as_dict()
            try:
                path = head.with_metadata(
                    evaluated_on=embedded.pairs.name,
                    metrics={k: metrics[k] for k in ("accuracy", "roc_auc", "eer", "threshold")},
                ).save(settings().data_dir, name, actor=current_actor())
            except ValueError as exc:  # a name with no letters or digits
                st.error(f"Can't save the head: {exc}.")
            except VisionLabError as exc:
                show_error(exc)
            else:
                note_saved(
                    "lab_save_head",
                    f"Saved the head as {md_literal(path.stem)}: choose it as the scorer on "
                    "Verify.",
                )
                st.rerun()
