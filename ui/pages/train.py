"""Train: a Siamese embedding head learned with triplet loss on a folder of people.

The pretrained face ResNet stays frozen; the page embeds the folder (an upload, or an allowed
server folder: ``ui.widgets.data_source``) once, cached as the threshold lab does; trains
``engine.training``'s projection head on those embeddings with live curves, compares it with
the plain distance on held-out people and saves it as a checkpoint.
"""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from engine.data_sources import Dataset
from engine.errors import VisionLabError
from engine.evaluation.datasets import (
    EmbeddedPairs,
    EmbeddingCancelled,
    pairs_from_folder,
)
from engine.evaluation.metrics import best_threshold
from engine.evaluation.scoring import DistanceScorer, PairScores, VerificationReport, evaluate
from engine.permissions import Action
from engine.training import MINERS, EpochStats, TrainResult, train_head
from engine.training.models import save_trained_model
from ui.widgets import lab_charts
from ui.widgets.access import ADMIN_ONLY, current_actor
from ui.widgets.data_source import data_source, finish_upload
from ui.widgets.face_widgets import embed_pairs_with_progress, flash, show_error, show_flash
from ui.widgets.jobs import heavy_job
from ui.widgets.model_choice import model_choice_section
from ui.widgets.resources import base_face_pipeline, engine_status, settings

STATE, STOP = "train", "train_stop"
HELD_OUT_SHARE = 0.2
EARLY_STOP_SHARE = 0.2
# Of the training people, the share set aside to pick the best epoch (10 people or more).
MIN_PEOPLE_FOR_HELD_OUT = 4
# Two people held out (a genuine and an impostor pair) and two left to train on.


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


def split_people(identities: np.ndarray, seed: int) -> np.ndarray | None:
    """The held-out people (about 20 %, chosen with ``seed``), or None when the folder has too
    few people to hold any out and still train."""
    people = np.unique(identities)
    if len(people) < MIN_PEOPLE_FOR_HELD_OUT:
        return None
    count = max(2, round(HELD_OUT_SHARE * len(people)))
    return np.random.default_rng(seed).permutation(people)[:count]


def compare_on_held_out(
    embedded: EmbeddedPairs, head_embeddings: np.ndarray, held_out: np.ndarray
) -> dict[str, VerificationReport] | None:
    """Plain distance vs the head on the held-out people's pairs, each at the threshold chosen
    on the training people's pairs; None when the held-out pairs lack genuine or impostors."""
    pairs = embedded.pairs
    held = np.isin(np.asarray(pairs.identities), held_out)
    usable = embedded.usable
    test = usable & held[pairs.a] & held[pairs.b]
    train = usable & ~held[pairs.a] & ~held[pairs.b]
    reports = {}
    for name, vectors in (
        ("base distance", embedded.embeddings),
        ("trained head", head_embeddings),
    ):
        scores = [
            PairScores.of(DistanceScorer(), vectors[pairs.a[m]], vectors[pairs.b[m]], pairs.same[m])
            for m in (test, train)
        ]
        if any(s.same.all() or not s.same.any() for s in scores):
            return None
        reports[name] = evaluate(scores[0], train=scores[1], train_name="the training people")
    return reports


def training_threshold(
    embedded: EmbeddedPairs, head_vectors: np.ndarray, training: np.ndarray
) -> float | None:
    """The head's most accurate distance threshold on the training people's pairs: saved with
    the model as its default on Verify and Recognize."""
    pairs = embedded.pairs
    use = embedded.usable & training[pairs.a] & training[pairs.b]
    if not use.any() or pairs.same[use].all() or not pairs.same[use].any():
        return None
    distances = np.linalg.norm(head_vectors[pairs.a[use]] - head_vectors[pairs.b[use]], axis=1)
    return best_threshold(distances, pairs.same[use])


def _stop() -> None:
    st.session_state[STOP] = True


def _run(dataset: Dataset, options: dict) -> None:
    """Embed the folder, then train, drawing the curves as epochs end; results go to
    ``st.session_state[STATE]`` as they come, so a Stop keeps the epochs done."""
    state = st.session_state[STATE] = {
        "data": dataset.identity,
        "data_name": dataset.name if dataset.uploaded else str(dataset.root),
        "options": options,
        "history": [],
    }
    pairs = pairs_from_folder(dataset.root, seed=options["seed"])
    running = st.empty()
    with running.container():
        st.caption(pairs.note)
        st.button("Stop", key="train_stop_button", on_click=_stop)
        bar = st.progress(0.0, text=f"Embedding {len(pairs.images):,} images…")
        chart = st.empty()

    # Always the pretrained model's vectors: a head is trained on top of them, whatever
    # model the other pages use now.
    embedded = embed_pairs_with_progress(
        pairs,
        bar,
        should_stop=lambda: bool(st.session_state.get(STOP)),
        pipeline=base_face_pipeline(),
        cache_dir=dataset.cache_dir,
    )
    state["embedded"] = embedded
    identities = np.asarray(pairs.identities)
    has = np.isfinite(embedded.embeddings).all(axis=1)
    held_out = split_people(identities[has], options["seed"])
    training = has & ~np.isin(identities, held_out if held_out is not None else [])
    people, labels = np.unique(identities[training], return_inverse=True)
    state["held_out"] = held_out
    state["trained_on"] = (len(people), int(training.sum()))

    epochs = options["epochs"]
    last_tick = [0.0]

    def epoch_done(stats: EpochStats) -> None:
        state["history"].append(stats)
        bar.progress(stats.epoch / epochs, text=f"Epoch {stats.epoch} / {epochs}")
        chart.plotly_chart(curves_figure(state["history"]), key=f"train_live_{stats.epoch}")

    def should_stop() -> bool:
        # Touching an element now and then gives Streamlit a point to interrupt the run when
        # Stop is clicked, within a batch rather than at the end of the epoch.
        if time.monotonic() - last_tick[0] > 0.25:
            last_tick[0] = time.monotonic()
            done = len(state["history"])
            bar.progress(done / epochs, text=f"Epoch {done + 1} / {epochs}…")
        return bool(st.session_state.get(STOP))

    bar.progress(0.0, text=f"Training on {len(people):,} people…")
    started = time.monotonic()
    result = train_head(
        embedded.embeddings[training],
        labels,
        alpha=options["alpha"],
        miner=options["miner"],
        epochs=epochs,
        lr=options["lr"],
        weight_decay=options["weight_decay"],
        held_out=EARLY_STOP_SHARE if options["early_stop"] and len(people) >= 10 else 0.0,
        p=options["p"],
        k=options["k"],
        seed=options["seed"],
        device=engine_status().device,
        progress=epoch_done,
        should_stop=should_stop,
        base_model_id=embedded.model_id,
    )
    state["seconds"] = time.monotonic() - started
    state["result"] = result
    head_vectors = np.full_like(embedded.embeddings, np.nan)
    head_vectors[has] = result.model.embed(embedded.embeddings[has])
    state["threshold"] = training_threshold(embedded, head_vectors, training)
    if held_out is not None:
        state["comparison"] = compare_on_held_out(embedded, head_vectors, held_out)
    running.empty()


# --- the page ---------------------------------------------------------------------------------
st.title("Train a Siamese embedding head")
st.markdown(
    r"""
A **Siamese network** is one network with shared weights applied to several inputs. Here it
encodes three photos — an **anchor** A, a **positive** P (same person) and a **negative** N
(someone else) — and learns from the **triplet loss**

$$L = \max\left(\lVert f(A) - f(P)\rVert^2 - \lVert f(A) - f(N)\rVert^2 + \alpha,\ 0\right)$$

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
options = {
    "alpha": left.number_input("Margin α", 0.0, 2.0, 0.2, 0.05, key="train_alpha"),
    "miner": middle.selectbox("Miner", MINERS, index=MINERS.index("semi-hard"), key="train_miner"),
    "epochs": int(right.number_input("Epochs", 1, 500, 20, 1, key="train_epochs")),
    "lr": left.number_input("Learning rate", 1e-5, 1.0, 1e-3, format="%.5f", key="train_lr"),
    "p": int(middle.number_input("P (people per batch)", 2, 256, 8, 1, key="train_p")),
    "k": int(right.number_input("K (photos per person)", 2, 64, 4, 1, key="train_k")),
    "weight_decay": middle.number_input(
        "Weight decay",
        0.0,
        1.0,
        1e-4,
        format="%.5f",
        key="train_wd",
        help="Pulls the head back towards the identity, i.e. towards the pretrained model.",
    ),
    "seed": int(left.number_input("Seed", 0, value=0, step=1, key="train_seed")),
    "early_stop": right.checkbox(
        "Keep the best epoch",
        value=True,
        key="train_early_stop",
        help=f"Sets {EARLY_STOP_SHARE:.0%} of the training people aside and keeps the epoch "
        "that verifies them best — epoch 0, the pretrained model, included (10+ people).",
    ),
}
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
    result: TrainResult | None = state.get("result")
    if result is None or result.cancelled:
        if "embedded" not in state:
            st.warning("Stopped while embedding; the images done so far are cached.")
        else:
            st.warning(
                f"Stopped after {len(history)} epochs: start again to train a model to save."
            )
        if history:
            st.plotly_chart(curves_figure(history), key="train_curves")
        return

    st.subheader("Training curves")
    st.plotly_chart(curves_figure(history), key="train_curves")
    last = history[-1]
    people, images = state["trained_on"]
    st.caption(
        f"{len(history)} epochs with {result.miner} mining on {people:,} people "
        f"({images:,} images) in {state['seconds']:.1f} s · {result.batches_run:,} batches"
    )
    columns = st.columns(4)
    columns[0].metric("Final loss", f"{last.loss:.4f}")
    columns[1].metric("Active triplets", f"{last.active_fraction:.1%}")
    columns[2].metric("Mean d(A, P)", f"{last.mean_d_ap:.3f}")
    columns[3].metric("Mean d(A, N)", f"{last.mean_d_an:.3f}")

    st.subheader("Before and after, on people the head never saw")
    comparison = state.get("comparison")
    if state["held_out"] is None:
        st.info(
            f"Held-out comparison needs at least {MIN_PEOPLE_FOR_HELD_OUT} people in the folder; "
            "this one trained on every person it has."
        )
    elif comparison is None:
        st.info("The held-out people's pairs need both genuine and impostor pairs to compare.")
    else:
        held = ", ".join(sorted(map(str, state["held_out"])))
        st.caption(
            f"Held out (seed {options['seed']}): {held}. Thresholds from the training people."
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
            f"Kept the weights of epoch {kept}: the best on {EARLY_STOP_SHARE:.0%} of the "
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
        metadata = result.metadata(data=state["data_name"])
        metadata.update(threshold=state.get("threshold"), **_figures(state.get("comparison")))
        try:
            path, meta = save_trained_model(
                settings().data_dir, result.model, metadata, actor=current_actor()
            )
        except VisionLabError as exc:
            show_error(exc)
            st.stop()
        flash(f"Saved {meta['model_id']} to {path}. Choose it under **Model in use** below.")
        st.rerun()


def _figures(comparison: dict[str, VerificationReport] | None) -> dict:
    """The held-out before/after, in the metadata shape the CLI writes."""
    if not comparison:
        return {}
    headline = {
        name: {"accuracy": r.accuracy, "eer": r.eer, "protocol": "held-out people"}
        for name, r in comparison.items()
    }
    return {
        "evaluation": {
            "eval": {"before": headline["base distance"], "after": headline["trained head"]}
        }
    }


state = st.session_state.get(STATE)
# The run stays shown once its upload is removed (after the run); another dataset hides it.
shown = state and (dataset is None or dataset.identity == state["data"])
if shown and state["options"] == options:
    show_run(state)
st.divider()
model_choice_section()
