"""Train: a Siamese embedding head learned with triplet loss on a folder of people.

The pretrained face ResNet stays frozen; the page embeds the folder (an upload, or an allowed
server folder: ``ui.widgets.data_source``) once, cached as the threshold lab does, and runs an
``engine.training.session.TrainingSession`` on those embeddings — the run ``cli.py train``
makes — with live curves; then shows its before/after on held-out people and saves it.
"""

from __future__ import annotations

import time

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from streamlit.delta_generator import DeltaGenerator

from engine.data_sources import Dataset
from engine.errors import VisionLabError
from engine.evaluation.embedding import EmbeddingCancelled
from engine.permissions import Action
from engine.training import MINERS, EpochStats, TrainingOptions
from engine.training.data import load_training_set
from engine.training.models import save_trained_model
from engine.training.options import HEAD_WEIGHT_DECAY
from engine.training.session import TrainingReport, TrainingSession
from engine.training.validation import MIN_PEOPLE_TO_HOLD_OUT
from ui.widgets import lab_charts
from ui.widgets.access import ADMIN_ONLY, current_actor
from ui.widgets.data_source import data_source, finish_upload
from ui.widgets.face_widgets import flash, show_error, show_flash
from ui.widgets.jobs import heavy_job
from ui.widgets.model_choice import model_choice_section
from ui.widgets.pace import pace_text, resumed_pace
from ui.widgets.resources import base_face_pipeline, engine_status, settings

STATE, STOP = "train", "train_stop"
DEFAULTS = TrainingOptions()


# --- what the page computes -------------------------------------------------------------------
def curves_figure(history: list[EpochStats]) -> go.Figure:
    """Loss, share of active triplets, and the mean squared distances per epoch."""
    epochs = [s.epoch for s in history]
    figure = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("triplet loss", "active triplets", "mean squared distance"),
    )
    figure.add_trace(go.Scatter(x=epochs, y=[s.loss for s in history], name="loss"), 1, 1)
    figure.add_trace(
        go.Scatter(x=epochs, y=[s.active_fraction for s in history], name="active fraction"),
        1,
        2,
    )
    figure.add_trace(go.Scatter(x=epochs, y=[s.mean_d_ap for s in history], name="d(A, P)"), 1, 3)
    figure.add_trace(go.Scatter(x=epochs, y=[s.mean_d_an for s in history], name="d(A, N)"), 1, 3)
    figure.update_xaxes(title_text="epoch")
    figure.update_layout(height=340, margin={"l": 40, "r": 20, "t": 40, "b": 40})
    return figure


def _stop() -> None:
    st.session_state[STOP] = True


def _run(dataset: Dataset, options: TrainingOptions) -> None:
    """Embed the folder, then train, drawing the curves as epochs end; results go to
    ``st.session_state[STATE]`` as they come, so a Stop keeps the epochs done."""
    state = st.session_state[STATE] = {
        "data": dataset.identity,
        "data_name": dataset.name if dataset.uploaded else str(dataset.root),
        "options": options,
        "history": [],
    }
    running = st.empty()  # the progress and its Stop button, gone once the run ends
    with running.container():
        st.button("Stop", key="train_stop_button", on_click=_stop)
        bar = st.progress(0.0, text="Embedding the images…")
        chart = st.empty()
    try:
        _embed_and_train(dataset, options, state, bar, chart)
    except Exception:  # a failure is shown in its place: no Stop left beside it
        running.empty()
        raise
    running.empty()


def _embed_and_train(
    dataset: Dataset,
    options: TrainingOptions,
    state: dict,
    bar: DeltaGenerator,
    chart: DeltaGenerator,
) -> None:
    """``_run``'s work, drawing on its progress ``bar`` and live ``chart``."""
    embedding_pace = resumed_pace("images")

    def embedded(done: int, total: int) -> None:
        bar.progress(
            done / max(total, 1),
            text=f"Embedding images: {done:,} / {total:,} · {embedding_pace(done, total)}",
        )

    # Always the pretrained model's vectors: a head is trained on top of them, whatever
    # model the other pages use now. The cache is the threshold lab's, so either page reuses it.
    data = load_training_set(
        base_face_pipeline(),
        dataset.root,
        dataset.cache_dir or settings().data_dir / "cache",
        min_images=2,
        progress=embedded,
        should_stop=lambda: bool(st.session_state.get(STOP)),
    )
    state["embedded"] = True
    session = TrainingSession(data, options, device=engine_status().device)

    epochs = options.epochs
    last_tick = [0.0]

    def pace(done: int) -> str:
        return pace_text(done, epochs, time.monotonic() - started, unit="epochs")

    def epoch_done(stats: EpochStats) -> None:
        state["history"].append(stats)
        bar.progress(
            stats.epoch / epochs, text=f"Epoch {stats.epoch} / {epochs} · {pace(stats.epoch)}"
        )
        chart.plotly_chart(curves_figure(state["history"]), key=f"train_live_{stats.epoch}")

    def should_stop() -> bool:
        # Touching an element now and then gives Streamlit a point to interrupt the run when
        # Stop is clicked, within a batch rather than at the end of the epoch.
        if time.monotonic() - last_tick[0] > 0.25:
            last_tick[0] = time.monotonic()
            done = len(state["history"])
            bar.progress(done / epochs, text=f"Epoch {done + 1} / {epochs}… · {pace(done)}")
        return bool(st.session_state.get(STOP))

    bar.progress(0.0, text=f"Training on {session.people:,} people…")
    started = time.monotonic()  # the epochs' clock: embedding took its own time
    state["report"] = session.run(progress=epoch_done, should_stop=should_stop)


# --- the page ---------------------------------------------------------------------------------
st.title("Train a Siamese embedding head")
st.markdown(
    r"""
A **Siamese network** is one network with shared weights applied to several inputs. Here it
encodes three photos — an **anchor** A, a **positive** P (same person) and a **negative** N
(someone else) — and learns from the **triplet loss**

$$\begin{aligned} L &= \max\big(d(A, P) - d(A, N) + \alpha,\ 0\big) \\
d(X, Y) &= \lVert f(X) - f(Y)\rVert^2 \end{aligned}$$

which is zero once the negative is farther from the anchor than the positive by at least the
margin α. Triplets with a positive loss are *active*; the **miner** picks which triplets of each
batch of P people × K photos to learn from.

What we train: not the face ResNet itself but a small **projection head** on its frozen 128-d
embeddings (`x ↦ x + Wx + b`, starting as the identity), which trains in seconds on a CPU.
"""
)
show_flash()

dataset = data_source("train")
left, middle, right = st.columns(3)
knobs = {
    "alpha": left.number_input("Margin α", 0.0, 2.0, DEFAULTS.alpha, 0.05, key="train_alpha"),
    "miner": middle.selectbox(
        "Miner", MINERS, index=MINERS.index(DEFAULTS.miner), key="train_miner"
    ),
    "epochs": int(right.number_input("Epochs", 1, 500, DEFAULTS.epochs, 1, key="train_epochs")),
    "lr": left.number_input("Learning rate", 1e-5, 1.0, DEFAULTS.lr, format="%.5f", key="train_lr"),
    "p": int(middle.number_input("P (people per batch)", 2, 256, DEFAULTS.p, 1, key="train_p")),
    "k": int(right.number_input("K (photos per person)", 2, 64, DEFAULTS.k, 1, key="train_k")),
    "weight_decay": middle.number_input(
        "Weight decay",
        0.0,
        1.0,
        HEAD_WEIGHT_DECAY,
        format="%.5f",
        key="train_wd",
        help="Pulls the head back towards the identity, i.e. towards the pretrained model.",
    ),
    "seed": int(left.number_input("Seed", 0, value=DEFAULTS.seed, step=1, key="train_seed")),
}
keep_best = right.checkbox(
    "Keep the best epoch",
    value=True,
    key="train_early_stop",
    help=f"Sets {DEFAULTS.held_out:.0%} of the training people aside and keeps the epoch "
    "that verifies them best — epoch 0, the pretrained model, included "
    f"({MIN_PEOPLE_TO_HOLD_OUT}+ training people).",
)
options = TrainingOptions(**knobs, held_out=DEFAULTS.held_out if keep_best else 0.0)
if st.button("Start training", key="train_start", type="primary", disabled=dataset is None):
    st.session_state[STOP] = False
    try:
        with heavy_job("training", should_stop=lambda: bool(st.session_state.get(STOP))):
            _run(dataset, options)
        if dataset.uploaded:  # the embeddings are in memory: the files are done with
            finish_upload("train")
    except EmbeddingCancelled:
        pass  # shown below, as after any Stop
    except VisionLabError as exc:
        st.session_state[STATE] = None
        show_error(exc)
        st.stop()
    except (ValueError, OSError) as exc:  # an unreadable folder; too few people to train
        st.session_state[STATE] = None
        st.error(str(exc))
        st.stop()


def show_run(state: dict) -> None:
    """The finished (or stopped) run: curves, before/after, saving."""
    history: list[EpochStats] = state["history"]
    report: TrainingReport | None = state.get("report")
    if report is None or report.cancelled:
        if "embedded" not in state:
            st.warning("Stopped while embedding; the images done so far are cached.")
        else:
            st.warning(
                f"Stopped after {len(history)} epochs: start again to train a model to save."
            )
        if history:
            st.plotly_chart(curves_figure(history), key="train_curves")
        return

    result = report.result
    st.subheader("Training curves")
    st.plotly_chart(curves_figure(history), key="train_curves")
    last = history[-1]
    st.caption(
        f"{len(history)} epochs with {result.miner} mining on {report.people:,} people "
        f"({report.images:,} images) in {report.seconds:.1f} s · {result.batches_run:,} batches"
    )
    columns = st.columns(4)
    columns[0].metric("Final loss", f"{last.loss:.4f}")
    columns[1].metric("Active triplets", f"{last.active_fraction:.1%}")
    columns[2].metric("Mean d(A, P)", f"{last.mean_d_ap:.3f}")
    columns[3].metric("Mean d(A, N)", f"{last.mean_d_an:.3f}")

    st.subheader("Before and after, on people the head never saw")
    held_out = report.comparisons.get("held-out")
    if held_out is None:
        st.info(
            f"Held-out comparison needs at least {MIN_PEOPLE_TO_HOLD_OUT} people in the folder; "
            "this one trained on every person it has."
        )
    else:
        comparison = {"base distance": held_out.before, "trained head": held_out.after}
        held = ", ".join(sorted(report.test_people))
        st.caption(
            f"Held out (seed {report.options.seed}): {held}. Thresholds from the training people."
        )
        st.dataframe(
            [
                {
                    "embedding": name,
                    "accuracy": f"{r.accuracy:.2%}",
                    "EER": f"{r.eer:.2%}",
                    "ROC AUC": f"{r.roc_auc:.4f}",
                    "threshold": f"{r.threshold:.3f}",
                }
                for name, r in comparison.items()
            ],
            hide_index=True,
            key="train_comparison",
        )
        st.plotly_chart(lab_charts.roc_figure(comparison), key="train_roc")

    st.subheader("Save this model")
    st.write(
        "A trained head is a new model with its own model id (the base id plus a hash of the "
        "weights). A gallery enrolled with the base model must be **re-embedded** to use it: "
        "distances are only meaningful between embeddings of the same model, so a head's vector "
        "compared with a base-model vector measures nothing."
    )
    if result.best_epoch is not None:
        kept = result.best_epoch or "0 — the untrained head, i.e. the pretrained model itself"
        st.info(
            f"Kept the weights of epoch {kept}: the best on {report.options.held_out:.0%} of the "
            "training people set aside (held-out ROC AUC "
            f"{result.baseline.auc:.5f} before training)."
        )
    may_save = current_actor().may(Action.SAVE_MODEL)
    if st.button(
        "Save this model",
        key="train_save",
        disabled=not may_save,
        help=None if may_save else ADMIN_ONLY,
    ):
        try:
            path, meta = save_trained_model(
                settings().data_dir,
                report.model,
                report.metadata(data=state["data_name"]),
                actor=current_actor(),
            )
        except VisionLabError as exc:
            show_error(exc)
            st.stop()
        flash(f"Saved {meta['model_id']} to {path}. Choose it under **Model in use** below.")
        st.rerun()


state = st.session_state.get(STATE)
# The run stays shown once its upload is removed (after the run); another dataset hides it.
shown = state and (dataset is None or dataset.identity == state["data"])
if shown and state["options"] == options:
    show_run(state)
st.divider()
model_choice_section()
