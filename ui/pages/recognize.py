"""Recognize: name every face in a photo from the gallery. Browsing and tidying the gallery
itself is the Gallery page's job.

Its threshold is an open-set one (``engine.open_set.recognize_threshold``): every face is
compared with every enrolled person, so the 1:1 threshold Verify uses would name more strangers
as the gallery grows."""

import io
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image, ImageEnhance

from engine.errors import VisionLabError
from engine.images import load_image
from engine.open_set import recognize_threshold
from engine.verification import Threshold, identify_faces, left_to_right
from ui.widgets.face_widgets import (
    analyze,
    chip_image,
    draw_numbered_boxes,
    image_inputs,
    open_gallery,
    show_error,
)
from ui.widgets.plain_text import download_name, md_literal
from ui.widgets.resources import face_pipeline, settings

ANNOTATED_SIDE = 2048  # long side of the photo shown and downloaded: readable, and bounded


def open_set_slider(people: int) -> Threshold:
    """The threshold, starting at the open-set default for this gallery size; moving the
    slider overrides it for this session."""
    default = recognize_threshold(settings(), face_pipeline().model_id, people)
    start = round(default.value, 2)
    value = st.slider(
        "Decision threshold (distance)",
        min_value=min(0.20, start),  # a saved point of a tight gallery may lie below 0.20
        max_value=max(1.20, start),
        value=start,
        step=0.01,
        key="recognize_threshold",
        help="A face whose nearest person is at or below it is named; otherwise it is unknown. "
        "Lower names fewer strangers and misses more enrolled people.",
    )
    st.caption(f"Default {md_literal(default.source)}.")
    if abs(value - start) < 1e-9:
        return default
    return Threshold(value, "set with the slider")


@st.cache_data(max_entries=8, show_spinner=False)
def annotated_png(sha256: str, model_id: str, _data: bytes, _faces: list) -> bytes:
    """The photo with its faces boxed and numbered left to right, as PNG bytes (keyed by the
    photo's hash and the model, which fix its faces)."""
    image = load_image(_data, max_pixels=settings().max_pixels)
    annotated = draw_numbered_boxes(image, left_to_right(_faces))
    annotated.thumbnail((ANNOTATED_SIDE, ANNOTATED_SIDE))
    buffer = io.BytesIO()
    annotated.save(buffer, format="PNG")
    return buffer.getvalue()


def not_a_match(png: bytes | None, caption: str) -> None:
    """A nearest person of an unknown face, faded and captioned so it never reads as a match."""
    if png is None:
        chip_image(png, caption)
        return
    chip = Image.open(io.BytesIO(png)).convert("L").convert("RGB")
    faded = ImageEnhance.Brightness(ImageEnhance.Contrast(chip).enhance(0.4)).enhance(1.3)
    st.image(np.asarray(faded), caption=md_literal(caption), width=96)


st.title("Recognize")
gallery = open_gallery()
st.page_link(
    "ui/pages/gallery.py",
    label="Gallery: browse, rename, merge or delete people",
    icon=":material/photo_library:",
)

if gallery.count_faces() == 0:
    st.info("The gallery is empty. Enrol people on the **Enrol** page first.")
else:
    uploads = image_inputs("A photo with one or more faces", key="recognize", multiple=False)
    k_column, threshold_column = st.columns(2)
    top_k = k_column.slider("Matches per face", 1, 10, 3, key="recognize_top_k")
    with threshold_column:
        threshold = open_set_slider(gallery.count_people())
    model_id = face_pipeline().model_id
    for upload in uploads:
        analyzed = analyze(upload)
        if analyzed.error:
            st.error(
                f"{md_literal(analyzed.name)} can't be read as an image: "
                f"{md_literal(analyzed.error)}."
            )
            continue
        photo = annotated_png(upload.sha256, model_id, upload.data, analyzed.faces)
        st.image(photo, caption=md_literal(analyzed.name), width="stretch")
        st.download_button(
            "Download the annotated photo (PNG)",
            data=photo,
            file_name=download_name(Path(analyzed.name).stem, "-recognized.png", "photo"),
            mime="image/png",
            key=f"recognize_download_{upload.sha256[:12]}",
        )
        faces = left_to_right(analyzed.faces)  # numbered as a viewer counts them
        try:
            result = identify_faces(gallery, faces, threshold, model_id, top_k=top_k)
        except VisionLabError as exc:
            show_error(exc)
            continue
        for face, identified in zip(faces, result.faces, strict=True):
            best = identified.best
            if identified.known:
                st.markdown(
                    f"**Face {identified.index + 1}: {md_literal(identified.name)}** — "
                    f"distance {best.distance:.3f}"
                )
            else:
                st.markdown(
                    f"**Face {identified.index + 1}: unknown** — no one within the threshold "
                    f"{threshold.value:.2f}"
                )
            # one row that wraps, so a phone shows the chips side by side, not one per screen
            row = st.container(horizontal=True, gap="small")
            row.image(face.chip, caption="this face", width=96)
            for match in identified.matches:
                with row:
                    if identified.known:
                        chip_image(
                            gallery.chip_png(match.face_id),
                            f"{match.person.name} · {match.distance:.3f}",
                        )
                    else:
                        not_a_match(
                            gallery.chip_png(match.face_id),
                            f"not a match · {match.person.name} · {match.distance:.3f}",
                        )
