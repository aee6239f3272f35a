"""Labelled pairs on a page: the inputs that choose and embed a pair set, and pairs shown as
their two face chips.

A pair set comes from the analyst's own labelled photos (``ui.widgets.data_source``: an upload,
with an LFW-format pairs file in its root or not) or from the enrolled gallery, leave-one-out.
Embedding runs in the job queue with a Cancel button; the images done before a cancel stay in
the cache, so starting again resumes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import numpy as np
import streamlit as st

from engine.data_sources import Dataset
from engine.errors import VisionLabError
from engine.evaluation.embedding import (
    EmbeddedPairs,
    EmbeddingCancelled,
    embed_pair_set,
    face_chip,
)
from engine.evaluation.gallery import GalleryFaces, gallery_faces, pairs_from_gallery
from engine.evaluation.pair_sets import DEFAULT_IMPOSTOR_SAMPLE, pairs_from_file, pairs_from_folder
from engine.evaluation.protocol import PairRow
from ui.widgets.data_source import data_source
from ui.widgets.face_widgets import open_gallery, show_error
from ui.widgets.jobs import heavy_job
from ui.widgets.pace import resumed_pace
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import face_pipeline, settings

YOURS, GALLERY = "Your labelled photos", "Enrolled gallery"


# --- choosing and embedding a pair set --------------------------------------------------------
def _cancel(key: str) -> None:
    if st.session_state.get(key):
        st.session_state[key]["cancelled"] = True


def _sample_inputs(key: str) -> tuple[int, int]:
    """How many impostor pairs to sample, and the seed."""
    left, right = st.columns(2)
    impostors = left.number_input(
        "Impostor pairs to sample",
        min_value=1,
        max_value=1_000_000,
        value=DEFAULT_IMPOSTOR_SAMPLE,
        step=1000,
        key=f"{key}_impostors",
        help="Measuring a FAR of 1e-3 takes at least 1,000 impostor pairs; 1e-4, 10,000.",
    )
    seed = right.number_input("Seed", min_value=0, value=0, step=1, key=f"{key}_seed")
    return int(impostors), int(seed)


def labelled_pairs(key: str, action: str) -> tuple[EmbeddedPairs, GalleryFaces | None] | None:
    """Inputs for one pair set and its button; the embedded pairs (and the gallery's faces for
    gallery pairs) once built, kept for the session while the inputs stay the same."""
    source = st.radio("Pairs from", [YOURS, GALLERY], horizontal=True, key=f"{key}_source")
    dataset: Dataset | None = None
    sample: tuple[int, int] | None = None
    if source == YOURS:
        dataset = data_source(
            key,
            allow_pairs=True,
            what="a zip laid out <person>/<images> (an LFW-format pairs file in its root, if "
            "you have one)",
        )
        pairs_file = dataset.pairs_file.name if dataset and dataset.pairs_file else None
        if dataset is not None and pairs_file is None:
            sample = _sample_inputs(key)
        inputs: tuple = (source, dataset and dataset.identity, pairs_file, *(sample or ()))
        ready = dataset is not None
    else:
        sample = _sample_inputs(key)
        inputs = (source, *sample)
        ready = True
    if st.button(action, key=f"{key}_go", type="primary", disabled=not ready):
        state = st.session_state[key] = {"inputs": inputs, "built": None, "cancelled": False}
        try:
            state["built"] = _build(key, dataset, sample)
        except EmbeddingCancelled:
            pass  # shown below, as after a click on Cancel
        except (VisionLabError, ValueError, OSError) as exc:
            st.session_state[key] = None
            if isinstance(exc, VisionLabError):
                show_error(exc)
            else:  # a malformed pairs file, an unreadable folder
                st.error(md_literal(exc))  # it names the user's files
            return None
    state = st.session_state.get(key)
    if not state or state["inputs"] != inputs:
        return None
    if state["built"] is None:
        st.warning(
            "Embedding was cancelled. The images done so far are cached: start again to "
            "resume where it stopped."
        )
        return None
    return state["built"]


def _build(
    key: str, dataset: Dataset | None, sample: tuple[int, int] | None
) -> tuple[EmbeddedPairs, GalleryFaces | None]:
    """The pair set of ``dataset`` (the gallery when None) embedded; ``sample`` is (impostor
    pairs, seed) for pairs made by sampling, None for a pairs file's."""
    if dataset is None:  # the gallery
        impostors, seed = sample
        faces = gallery_faces(open_gallery())
        return pairs_from_gallery(faces, impostors=impostors, seed=seed), faces
    if dataset.pairs_file is not None:
        pairs = pairs_from_file(dataset.pairs_file, dataset.root)
    else:
        impostors, seed = sample
        pairs = pairs_from_folder(dataset.root, impostors=impostors, seed=seed)
        pairs = replace(pairs, name=dataset.name)
    running = st.empty()  # the progress and its Cancel button, gone once done
    with running.container():
        st.caption(md_literal(pairs.note))
        # Clicking Cancel interrupts this run; its callback marks the job cancelled so the
        # next run says so instead of starting again.
        st.button("Cancel", key=f"{key}_cancel", on_click=_cancel, args=(key,))
        bar = st.progress(0.0, text=f"Embedding {len(pairs.images):,} images…")

    cancelled = lambda: bool(st.session_state[key]["cancelled"])  # noqa: E731

    pace = resumed_pace("images")

    def show(done: int, total: int) -> None:
        bar.progress(
            done / max(total, 1),
            text=f"Embedding images: {done:,} / {total:,} · {pace(done, total)}",
        )

    # The shared on-disk cache, which the Train page's TrainingSession reads too (an upload
    # caches inside its own temporary folder, so nothing of it outlives it).
    cache = dataset.cache_dir or settings().data_dir / "cache"
    try:
        with heavy_job("embedding of the pair set", should_stop=cancelled):
            embedded = embed_pair_set(
                face_pipeline(), pairs, cache, progress=show, should_stop=cancelled
            )
    except Exception:  # a failure is shown in its place: no Cancel left beside it
        running.empty()
        raise
    running.empty()
    return embedded, None


# --- pairs shown as chips ---------------------------------------------------------------------
CAPTION_WIDTH = 13.0
"""What one line of a 96 px chip's caption holds, in widths of an average letter (about 7 px in
Streamlit's caption font): the browser breaks a longer word wherever it reaches the edge."""
CAPTION_LINES = 3


def _text_width(text: str) -> float:
    """``text``'s width in average letters, erring wide: capitals, m and w, and East Asian
    full-width characters take more room than a lowercase letter."""
    width = 0.0
    for c in text:
        if unicodedata.east_asian_width(c) in "WF":
            width += 2.0
        elif c in "mwMW@%":
            width += 1.8
        elif c.isupper():
            width += 1.3
        else:
            width += 1.0
    return width


def _shortened_word(word: str, width: float) -> str:
    """A word too wide for a line, cut to its start and an ellipsis that fit."""
    while word and _text_width(word + "…") > width:
        word = word[:-1]
    return word + "…"


def chip_caption(name: str, width: float = CAPTION_WIDTH, lines: int = CAPTION_LINES) -> str:
    """``name`` laid out for a chip's narrow caption so the browser wraps it only at spaces,
    never inside a word: LFW file stems join words with ``_`` (``Diane_Green_0001``), shown
    as spaces; a word wider than a line is cut to its start and "…"; past ``lines`` lines, the
    rest is left off after whole words, with "…". Plain text: the caller still passes the
    result through ``md_literal``."""
    rows: list[str] = []
    for word in name.replace("_", " ").split():
        if _text_width(word) > width:
            word = _shortened_word(word, width)
        if rows and _text_width(f"{rows[-1]} {word}") <= width:
            rows[-1] += f" {word}"
        elif len(rows) < lines:
            rows.append(word)
        else:
            last = rows[-1].split()
            while len(last) > 1 and _text_width(" ".join(last) + " …") > width:
                last.pop()
            rows[-1] = " ".join(last) + " …" if not last[-1].endswith("…") else " ".join(last)
            break
    return " ".join(rows)


@st.cache_data(max_entries=512, show_spinner=False)
def _file_chip(path: str, centred_fallback: bool, modified: float) -> np.ndarray | None:
    """The chip the evaluation embedded (``modified`` keys the cache to the file's version)."""
    return face_chip(face_pipeline(), path, centred_fallback)


def _chip(embedded: EmbeddedPairs, image: int) -> np.ndarray | str | None:
    if embedded.from_gallery:
        return open_gallery().chip_rgb(embedded.pairs.images[image])
    path = embedded.pairs.image_path(image)
    modified = path.stat().st_mtime if path.is_file() else 0.0
    return _file_chip(str(path), embedded.pairs.centred_fallback, modified)


def show_pairs(embedded: EmbeddedPairs, rows: list[PairRow], unit: str) -> None:
    """Each pair's two chips side by side, named, with the pair's score in ``unit``."""
    for row in rows:
        left, right, _ = st.columns([1, 1, 2])  # two chips side by side, kept small
        for column, image in ((left, row.image_a), (right, row.image_b)):
            chip, name = _chip(embedded, image), chip_caption(embedded.image_name(image))
            if chip is None:
                column.caption(f"{md_literal(name)} (no chip)")
            else:
                column.image(chip, caption=md_literal(name), width=96)
        st.caption(f"{unit} {row.score:.3f}")
