"""Home: what Vision Lab does, a three-click demo for first-time visitors, and the state of the
engine behind it."""

import streamlit as st

from ui.widgets.demo_path import demo_path
from ui.widgets.resources import engine_status, face_pipeline

st.title("Vision Lab")
st.write(
    "Face verification and recognition with dlib's pretrained models, run in PyTorch — "
    "and a look at what convolutional networks learn."
)

demo_path()

st.subheader("Engine")
status = engine_status()
c1, c2, c3 = st.columns(3)
c1.metric("Device", status.device)
c2.metric("Torch threads", status.torch_threads)
c3.metric("Python", status.python)
st.caption(status.device_name)

st.subheader("Models")
if st.button(
    "Load the face models now",
    key="home_load_models",
    help="They load on first use anyway; this shows timing.",
):
    with st.spinner("Loading…"):
        face_pipeline()
    st.success("Face detector, landmarks and embedder are loaded.")
# A static table wraps long cells (a dataframe clips them); source and licence, the same for
# every model we ship, are listed once below it instead of as two more wide columns.
st.table(
    [
        {
            "model": w.name,
            "id": w.model_id,
            "kind": w.kind,
            "published": w.published_metric,
            "input": w.input_convention,
        }
        for w in status.models
    ],
    hide_index=True,
)
origins: dict[tuple[str, str], list[str]] = {}
for w in status.models:
    origins.setdefault((w.source, w.licence), []).append(w.name)
for (source, licence), names in origins.items():
    st.caption(f"{', '.join(names)}: from {source}. Licence: {licence}.")

st.subheader("Versions")
st.dataframe(
    [{"package": k, "version": v} for k, v in status.versions.items()],
    hide_index=True,
)
