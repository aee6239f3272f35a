"""Recognize: name every face in a photo from the gallery. Browsing and tidying the gallery
itself is the Gallery page's job."""

import streamlit as st

from engine.errors import VisionLabError
from engine.verification import identify_faces
from ui.widgets.face_widgets import (
    analyze,
    chip_image,
    image_inputs,
    open_gallery,
    show_error,
    show_faces,
    threshold_slider,
)
from ui.widgets.plain_text import md_literal
from ui.widgets.resources import face_pipeline

st.title("Recognize")
gallery = open_gallery()
st.page_link(
    "ui/pages/gallery.py", label="Browse, rename, merge or delete people on the Gallery page"
)

if gallery.count_faces() == 0:
    st.info("The gallery is empty. Enrol people on the **Enroll** page first.")
else:
    uploads = image_inputs("A photo with one or more faces", key="recognize", multiple=False)
    k_column, threshold_column = st.columns(2)
    top_k = k_column.slider("Matches per face", 1, 10, 3, key="recognize_top_k")
    with threshold_column:
        threshold = threshold_slider("recognize_threshold")
    for upload in uploads:
        analyzed = analyze(upload)
        if analyzed.error:
            st.error(
                f"{md_literal(analyzed.name)} can't be read as an image: "
                f"{md_literal(analyzed.error)}."
            )
            continue
        show_faces(analyzed)
        try:
            result = identify_faces(
                gallery, analyzed.faces, threshold, face_pipeline().model_id, top_k=top_k
            )
        except VisionLabError as exc:
            show_error(exc)
            continue
        for face, identified in zip(analyzed.faces, result.faces, strict=True):
            best = identified.best
            nearest = (
                f" (nearest: {md_literal(best.person.name)}, {best.distance:.3f})" if best else ""
            )
            if identified.known:
                st.markdown(
                    f"**Face {identified.index + 1}: {md_literal(identified.name)}** — "
                    f"distance {best.distance:.3f}"
                )
            else:
                st.markdown(
                    f"**Face {identified.index + 1}: unknown**{nearest} — over the "
                    f"threshold {threshold.value:.2f}"
                )
            columns = st.columns(top_k + 1)
            columns[0].image(face.chip, caption="this face", width=96)
            for column, match in zip(columns[1:], identified.matches, strict=False):
                with column:
                    chip_image(match.chip_path, f"{match.person.name} · {match.distance:.3f}")
