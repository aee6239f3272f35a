"""Privacy: what the app stores about faces, where, and how to delete a person completely."""

from __future__ import annotations

import streamlit as st

from engine.data_inventory import stored_data
from ui.widgets.access import is_admin
from ui.widgets.resources import settings

st.title("Privacy")
st.markdown(
    """
Face embeddings and face images are **biometric data**: they identify a person. Vision Lab keeps
them only on the machine (or the Chroma server) it runs on, never sends them anywhere, and never
writes embeddings, names or file names to its logs.
"""
)
data_dir = settings().data_dir
st.subheader("What is stored, and where")
folder = f" `{data_dir.resolve()}`" if is_admin() else ""  # server paths: admins only
st.caption(f"Everything lives under the data folder{folder} (`VISIONLAB_DATA`).")
st.dataframe(
    [
        {
            "data": item.name,
            "where": str(item.path.relative_to(data_dir)),
            "holds": item.holds,
            "biometric": "yes" if item.biometric else "no",
            "files": item.files,
            "size": f"{item.bytes / 1e6:.1f} MB",
        }
        for item in stored_data(data_dir)
    ],
    hide_index=True,
    key="privacy_inventory",
)
st.subheader("Deleting a person completely")
st.markdown(
    """
- **Gallery page → the person → Delete** (admins), or `python cli.py delete "NAME"`: removes the
  person's record, every embedding of every model (database and search index) and every stored
  face image, in one step. Nothing of them is left in the gallery.
- Photos of them that you *evaluated* (Threshold lab, Train, `cli.py evaluate` / `train`) have
  embeddings and chips in the **evaluation caches**, keyed by file path. Delete the `cache`
  folder to remove them; it is rebuilt on demand.
- **Exports** (`cli.py export`, Gallery → Export) are full copies: delete the zip files too.
- Uploaded photos are processed in memory and not stored, except the aligned face thumbnail of a
  face you enrol.
- Uploaded **zips and photo sets** (Threshold lab, Train, Neurons, Enrol's bulk tab) are
  unpacked into a temporary folder of your session only, outside the data folder, together with
  anything made from them (their embeddings, a neuron index of them). It is removed when you
  remove the upload, when the job that needed it ends (bulk enrolment, training), or when your
  session ends; a folder left behind by a crash is swept after six hours unused. Nothing of an
  upload is added to the evaluation caches; faces you enrol from it are stored like any other.
"""
)
st.subheader("Hosting")
st.markdown(
    """
When hosted, set a password or OpenID Connect login in `.streamlit/secrets.toml` (see the
README): without one the app runs in *local mode* and anyone who reaches it can change the
gallery. Only admins can delete, merge, import or switch the face model. Upload size is capped
in `.streamlit/config.toml`. The app reads no folder of the server unless the operator lists
it in `VISIONLAB_SERVER_ROOTS`, and then only for admins.
"""
)
