"""Recognize: name every face in a photo from the gallery, and browse, rename or delete the
gallery's people."""

import streamlit as st

from engine.errors import VisionLabError
from engine.verification import identify_faces
from pages.face_widgets import (
    analyze,
    chip_image,
    confirmed,
    flash,
    image_inputs,
    open_gallery,
    show_error,
    show_faces,
    show_flash,
    threshold_slider,
)
from pages.resources import face_pipeline

st.title("Recognize")
show_flash()
gallery = open_gallery()

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
            st.error(f"{analyzed.name} can't be read as an image: {analyzed.error}.")
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
            nearest = f" (nearest: {best.person.name}, {best.distance:.3f})" if best else ""
            if identified.known:
                st.markdown(
                    f"**Face {identified.index + 1}: {identified.name}** — "
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

st.divider()
st.subheader("Gallery")
people = {p.id: p for p in gallery.people()}
if people:
    st.dataframe(
        [
            {"name": p.name, "faces": p.face_count, "enrolled": str(p.created)[:19]}
            for p in people.values()
        ],
        hide_index=True,
    )
    person_id = st.selectbox(
        "Person",
        list(people),
        format_func=lambda pid: f"{people[pid].name} ({people[pid].face_count} faces)",
        key="browse_person",
    )
    person = people[person_id]
    try:
        faces = gallery.faces_of(person.id)
        for start in range(0, len(faces), 6):
            for column, face in zip(st.columns(6), faces[start : start + 6], strict=False):
                with column:
                    chip_image(face.chip_path, str(face.created)[:10])
                    if confirmed(
                        "Remove", "Remove this face from the gallery?", key=f"face_{face.id}"
                    ):
                        gallery.delete_face(face.id)
                        flash(f"Removed a face of {person.name}.")
                        st.rerun()
        new_name = st.text_input("New name", value=person.name, key=f"rename_{person.id}")
        if st.button("Rename", disabled=new_name.strip() in ("", person.name)):
            gallery.rename(person.id, new_name.strip())
            flash(f"Renamed {person.name} to {new_name.strip()}.")
            st.rerun()
        if confirmed(
            f"Delete {person.name}…",
            f"Delete {person.name} and their {person.face_count} faces? This cannot be undone.",
            key=f"person_{person.id}",
        ):
            gallery.delete_person(person.id)
            flash(f"Deleted {person.name}.")
            st.rerun()
    except VisionLabError as exc:
        show_error(exc)
