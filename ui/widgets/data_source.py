"""The one data-source widget: where a page's set of images comes from.

Everyone uploads (a zip laid out ``<person>/<images>``, optionally with an LFW-format pairs file
in its root; or photos where the page takes loose images), with the caps stated beside the
uploader. Admins (and local mode) also get "a folder on this server", shown only when the
operator listed roots in ``VISIONLAB_SERVER_ROOTS``; the check itself is the engine's
(``engine.data_sources.resolve_server_folder``).

An upload is unpacked once per session into a temporary folder of its own, held in the session
state, and removed when the upload is removed or replaced, when the page calls
``finish_upload`` (the job that needed the files is done), or when the session is dropped.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from engine.data_sources import (
    UPLOAD_LIMITS,
    Dataset,
    ServerRoots,
    UploadedDataset,
    UploadLimits,
    server_dataset,
)
from engine.errors import VisionLabError
from engine.images import IMAGE_SUFFIXES
from engine.permissions import Action, Actor
from ui.widgets.access import current_actor
from ui.widgets.resources import settings

UPLOAD, SERVER = "Upload", "A folder on this server"
NO_PAIRS = "No pairs file: every genuine pair and a sample of impostor pairs"
IMAGE_TYPES = sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)


def session_actor() -> Actor:
    """Who this session is, for the data-source checks: the one place this widget decides."""
    return current_actor()


def server_roots() -> ServerRoots:
    return ServerRoots.from_settings(settings())


def may_use_server_folders() -> bool:
    return bool(server_roots()) and session_actor().may(Action.READ_SERVER_FOLDER)


def data_source(
    key: str,
    *,
    allow_pairs: bool = False,
    photos: bool = False,
    what: str = "a zip laid out <person>/<images>",
    limits: UploadLimits = UPLOAD_LIMITS,
) -> Dataset | None:
    """The dataset the user chose (uploaded, or an allowed server folder), or None until there
    is one (a refusal is shown as a sentence). ``allow_pairs`` offers an LFW-format pairs file
    found in the dataset's root; ``photos`` also takes loose photos instead of a zip; ``limits``
    are the caps stated beside the uploader and enforced on what it unpacks."""
    kind = UPLOAD
    if may_use_server_folders():
        kind = st.radio("Images from", [UPLOAD, SERVER], horizontal=True, key=f"{key}_kind")
    dataset = _server_folder(key, what) if kind == SERVER else _upload(key, photos, what, limits)
    if dataset is not None and allow_pairs:
        dataset = _pairs_choice(key, dataset)
    return dataset


def uploaded(key: str) -> UploadedDataset | None:
    """This session's unpacked upload for ``key``, while it is open."""
    held = st.session_state.get(_holder(key))
    upload = held[1] if held else None
    return upload if isinstance(upload, UploadedDataset) and not upload.closed else None


def finish_upload(key: str) -> None:
    """The job that needed the uploaded files is done: remove them now, empty the uploader (a
    new upload key, so they are not unpacked again) and rerun to show it empty. The page keeps
    what it shows afterwards (a summary, a trained head) in the session state."""
    _drop(key)
    st.session_state[_round(key)] = st.session_state.get(_round(key), 0) + 1
    st.rerun()


# --- the parts --------------------------------------------------------------------------------
def _holder(key: str) -> str:
    return f"{key}_unpacked"


def _round(key: str) -> str:
    return f"{key}_upload_round"


def _uploader_key(key: str) -> str:
    done = st.session_state.get(_round(key), 0)
    return f"{key}_upload" if not done else f"{key}_upload_{done}"


def _drop(key: str) -> None:
    held = st.session_state.pop(_holder(key), None)
    if held and isinstance(held[1], UploadedDataset):
        held[1].close()


def _upload(key: str, photos: bool, what: str, limits: UploadLimits) -> Dataset | None:
    label = f"Upload {what}" + (", or photos" if photos else "")
    files = st.file_uploader(
        label,
        type=["zip", *IMAGE_TYPES] if photos else ["zip"],
        accept_multiple_files=photos,
        key=_uploader_key(key),
    )
    st.caption(
        f"Uploads: {limits.describe()}. They are unpacked into a temporary folder of this "
        "session only, removed when you remove the upload, when the job is done or when the "
        "session ends; they are never added to the data folder."
    )
    files = files if isinstance(files, list) else [files] if files else []
    if not files:
        _drop(key)
        return None
    payload = [(f.name, f.getvalue()) for f in files]
    digest = hashlib.sha256()
    for name, data in payload:
        digest.update(name.encode("utf-8", "replace") + hashlib.sha256(data).digest())
    identity = digest.hexdigest()
    held = st.session_state.get(_holder(key))
    if held is None or held[0] != identity:
        _drop(key)
        try:
            held = (identity, UploadedDataset.from_files(payload, limits))
        except VisionLabError as exc:
            held = (identity, f"The upload is refused: {exc}.")
        st.session_state[_holder(key)] = held
    if isinstance(held[1], str):  # refused: said again on every run, not unpacked again
        st.error(held[1])
        return None
    upload: UploadedDataset = held[1]
    if upload.closed:  # removed under us (the stale sweep): unpack it again next run
        st.session_state.pop(_holder(key), None)
        st.rerun()
    upload.touch()
    st.caption(f"{upload.images:,} images unpacked.")
    if upload.left_out:
        with st.expander(f"{len(upload.left_out):,} files of the upload left out"):
            st.text("\n".join(upload.left_out))  # file names are the uploader's text
    return upload.dataset


def _server_folder(key: str, what: str) -> Dataset | None:
    roots = server_roots()
    st.caption(
        "Admins only. Allowed folders (VISIONLAB_SERVER_ROOTS): "
        + ", ".join(f"`{root}`" for root in roots.roots)
    )
    text = st.text_input(f"Folder on this server: {what}", key=f"{key}_folder")
    if not text.strip():
        return None
    try:
        return server_dataset(text, roots, session_actor(), settings().data_dir / "cache")
    except VisionLabError as exc:
        st.error(f"{exc}.")
        return None


def _pairs_choice(key: str, dataset: Dataset) -> Dataset:
    texts = [p.name for p in dataset.text_files()]
    if not texts:
        st.caption(
            "No pairs file (.txt) in the root: every genuine pair and a sample of impostor "
            "pairs are used."
        )
        return dataset
    choice = st.selectbox(
        "Pairs: an LFW-format pairs file in the root, or none",
        [NO_PAIRS, *texts],  # plain strings: a text file's name always ends in .txt
        index=1,
        key=f"{key}_pairs_file",
    )
    return dataset.with_pairs_file(None if choice == NO_PAIRS else choice)
