"""Home: what Vision Lab does, and the state of the engine behind it."""

import streamlit as st

from ui.widgets.resources import engine_status, face_pipeline

st.title("Vision Lab")
st.write(
    "Face verification and recognition with dlib's pretrained models, run in PyTorch — "
    "and a look at what convolutional networks learn."
)

status = engine_status()
c1, c2, c3 = st.columns(3)
c1.metric("Device", status.device)
c2.metric("Torch threads", status.torch_threads)
c3.metric("Python", status.python)
st.caption(status.device_name)

st.subheader("Models")
if st.button("Load the face models now", help="They load on first use anyway; this shows timing."):
    with st.spinner("Loading…"):
        face_pipeline()
    st.success("Face detector, landmarks and embedder are loaded.")
st.dataframe(
    [
        {
            "model": w.name,
            "id": w.model_id,
            "kind": w.kind,
            "published": w.published_metric,
            "input": w.input_convention,
            "source": w.source,
            "licence": w.licence,
        }
        for w in status.models
    ],
    hide_index=True,
    width="stretch",
)

st.subheader("Versions")
st.dataframe(
    [{"package": k, "version": v} for k, v in status.versions.items()],
    hide_index=True,
)
