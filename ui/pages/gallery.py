"""Gallery: who is enrolled and with which faces, and the ways to tidy it up — rename, notes,
merge two records of one person, remove a face or a person — plus the whole gallery exported
as a zip and imported back (a backup, or a move to another machine).

People are found by a name search (plain text, case-insensitive); a person's faces are shown a
page at a time; the store's UTC ISO timestamps are shown as "3 Dec 2026, 14:05 UTC"."""

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from engine.errors import VisionLabError
from engine.permissions import Action
from store import Gallery, ImportSummary, Person
from store.gallery import MAX_NAME_LENGTH
from ui.widgets.access import ADMIN_ONLY, current_actor
from ui.widgets.face_widgets import (
    chip_image,
    confirmed,
    counted,
    flash,
    open_gallery,
    show_error,
    show_flash,
)
from ui.widgets.plain_text import md_literal

THUMBNAILS_PER_ROW = 6
FACES_PER_PAGE = 12  # two rows: a person with 57 faces is not 57 Remove buttons at once


def readable_time(stored: str) -> str:
    """A stored ISO 8601 UTC time as "3 Dec 2026, 14:05 UTC" (the store's own text if it is not
    ISO). Said to be UTC: the server does not know the visitor's time zone."""
    try:
        moment = datetime.fromisoformat(stored)
    except (TypeError, ValueError):
        return str(stored)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def matching(people: list[Person], query: str) -> list[Person]:
    """People whose name contains ``query``, ignoring case. A plain substring test: ``.*`` or
    ``[x](http://e.vil)`` are looked for as those characters, never as a pattern or Markdown."""
    wanted = query.strip().casefold()
    return [p for p in people if wanted in p.name.casefold()]


def export_bytes(gallery: Gallery) -> bytes:
    """The gallery as an export zip. Built only when the user clicks Download (the zip holds
    every chip, too slow to build on each rerun) in a private temporary folder that is removed
    at once, so no copy of the biometric data stays on the server's disk."""
    with tempfile.TemporaryDirectory(prefix="vision-lab-export-") as folder:
        return gallery.export_zip(Path(folder) / "gallery.zip").read_bytes()


def import_upload(gallery: Gallery, name: str, data: bytes) -> ImportSummary:
    """Import an uploaded export. The store reads a path, so the bytes go to a temporary file;
    its path means nothing to the user, so error messages name the uploaded file instead."""
    with tempfile.TemporaryDirectory(prefix="vision-lab-import-") as folder:
        path = Path(folder) / "upload.zip"
        path.write_bytes(data)
        try:
            return gallery.import_zip(path)
        except VisionLabError as exc:
            exc.args = (str(exc).replace(str(path), name),)
            raise


def import_message(name: str, summary: ImportSummary) -> str:
    skipped = (
        f", {summary.faces_skipped} skipped (already in the gallery)"
        if summary.faces_skipped
        else ""
    )
    return (
        f"Imported {md_literal(name)}: {counted(summary.faces_imported, 'face')}{skipped}; "
        f"{counted(summary.people_created, 'new person', 'new people')}, "
        f"{summary.people_matched:,} matched to people "
        "already here."
    )


def face_page(person: Person, count: int) -> int:
    """Which page of the person's faces to show (0-based): a page picker once they fill more
    than one page, kept per person, pulled back in range when faces were removed."""
    pages = -(-count // FACES_PER_PAGE)
    if pages <= 1:
        return 0
    key = f"faces_page_{person.id}"
    if st.session_state.get(key, 1) > pages:
        st.session_state[key] = pages
    page = st.number_input(
        f"Page of faces (1–{pages})", min_value=1, max_value=pages, value=1, step=1, key=key
    )
    first = (page - 1) * FACES_PER_PAGE
    st.caption(f"Faces {first + 1}–{min(first + FACES_PER_PAGE, count)} of {count}.")
    return page - 1


def show_faces_of(gallery: Gallery, person: Person) -> None:
    """The person's face chips, a page at a time, each with a confirmed Remove."""
    faces = gallery.faces_of(person.id)
    if not faces:
        st.caption(f"{md_literal(person.name)} has no faces of this model yet.")
        return
    first = face_page(person, len(faces)) * FACES_PER_PAGE
    shown = faces[first : first + FACES_PER_PAGE]
    for start in range(0, len(shown), THUMBNAILS_PER_ROW):
        row = shown[start : start + THUMBNAILS_PER_ROW]
        for column, face in zip(st.columns(THUMBNAILS_PER_ROW), row, strict=False):
            with column:
                chip_image(gallery.chip_png(face.id), readable_time(face.created))
                if confirmed(
                    "Remove",
                    "Remove this face from the gallery? Its embedding and stored image are "
                    "deleted.",
                    key=f"face_{face.id}",
                ):
                    gallery.delete_face(face.id)
                    flash(f"Removed a face of {md_literal(person.name)}.")
                    st.rerun()


def edit_person(gallery: Gallery, person: Person) -> None:
    """Rename and notes; widgets keyed by person so switching people shows their values."""
    name_column, notes_column = st.columns(2)
    with name_column:
        new_name = st.text_input(
            "Name", value=person.name, max_chars=MAX_NAME_LENGTH, key=f"rename_{person.id}"
        ).strip()
        may_rename = current_actor().may(Action.RENAME)
        if st.button(
            "Rename",
            disabled=not may_rename or new_name in ("", person.name),
            help=None if may_rename else ADMIN_ONLY,
        ):
            renamed = gallery.rename(person.id, new_name)  # browse() shows a refusal
            flash(f"Renamed {md_literal(person.name)} to {md_literal(renamed.name)}.")
            st.rerun()
    with notes_column:
        notes = st.text_area("Notes", value=person.notes, key=f"notes_{person.id}")
        may_edit = current_actor().may(Action.EDIT_NOTES)
        if st.button(
            "Save notes",
            disabled=not may_edit or notes == person.notes,
            help=None if may_edit else ADMIN_ONLY,
        ):
            gallery.set_notes(person.id, notes)
            flash(f"Saved the notes on {md_literal(person.name)}.")
            st.rerun()


def merge_into(gallery: Gallery, person: Person, people: dict[str, Person]) -> None:
    """Fold a second record of the same person (enrolled under two names) into this one."""
    others = [pid for pid in people if pid != person.id]
    if not others:
        return
    absorb_id = st.selectbox(
        f"Merge another person into {md_literal(person.name)}",
        others,
        index=None,
        format_func=lambda pid: f"{people[pid].name} ({counted(people[pid].face_count, 'face')})",
        placeholder="Choose the other record of the same person",
        key=f"merge_from_{person.id}",
    )
    if absorb_id is None:
        return
    absorb = people[absorb_id]
    absorb_name, person_name = md_literal(absorb.name), md_literal(person.name)
    st.caption(
        f"All faces of {absorb_name} move to {person_name}, {absorb_name}'s notes are added "
        f"to {person_name}'s, and the {absorb_name} record disappears."
    )
    if confirmed(
        f"Merge {absorb.name} into {person.name}…",
        f"Move {counted(absorb.face_count, 'face')} of {absorb.name} to {person.name} and "
        f"delete the {absorb.name} record? This cannot be undone.",
        key=f"merge_{person.id}_{absorb.id}",
        yes_label="Yes, merge",
    ):
        kept = gallery.merge(person.id, absorb.id)
        # The notes changed and the chosen record is gone: let both widgets start afresh.
        st.session_state.pop(f"notes_{person.id}", None)
        st.session_state.pop(f"merge_from_{person.id}", None)
        faces_now = counted(kept.face_count, "face")
        flash(f"Merged {absorb_name} into {md_literal(kept.name)}: {faces_now} now.")
        st.rerun()


def delete_person(gallery: Gallery, person: Person) -> None:
    if confirmed(
        f"Delete {person.name}…",
        f"Delete {person.name}? Every embedding and stored image of them "
        f"({counted(person.face_count, 'face')}) is removed from the gallery. This cannot be "
        "undone.",
        key=f"person_{person.id}",
    ):
        gallery.delete_person(person.id)
        flash(f"Deleted {md_literal(person.name)}.")
        st.rerun()


def browse(gallery: Gallery) -> None:
    """People table, then one chosen person's faces and the changes that can be made."""
    everyone = gallery.people()
    if not everyone:
        st.info("The gallery is empty. Enrol people on the **Enrol** page, or import an export.")
        return
    query = st.text_input(
        "Search by name",
        key="gallery_search",
        placeholder="Part of a name, any case",
        max_chars=MAX_NAME_LENGTH,
    )
    people = {p.id: p for p in matching(everyone, query)}
    if not people:
        st.info(f"Nobody's name contains {md_literal(query.strip())}.")
        return
    if query.strip():
        st.caption(f"{len(people)} of {len(everyone)} people match.")
    st.dataframe(
        [
            {
                "name": p.name,
                "faces": p.face_count,
                "created": readable_time(p.created),
                "notes": p.notes,
            }
            for p in people.values()
        ],
        hide_index=True,
    )
    person_id = st.selectbox(
        "Person",
        list(people),
        format_func=lambda pid: f"{people[pid].name} ({counted(people[pid].face_count, 'face')})",
        key="browse_person",
    )
    person = people[person_id]
    try:
        show_faces_of(gallery, person)
        edit_person(gallery, person)
        merge_into(gallery, person, {p.id: p for p in everyone})  # any record, found or not
        delete_person(gallery, person)
    except VisionLabError as exc:
        show_error(exc)


def export_section(gallery: Gallery) -> None:
    st.subheader("Export")
    st.write(
        "The whole gallery as one zip: people, notes, face embeddings and face images, to back "
        "it up or move it to another machine. **The file contains biometric data**: store and "
        "share it as you would the gallery itself."
    )
    may_export = current_actor().may(Action.EXPORT)
    st.download_button(
        "Download the gallery (.zip)",
        # A user gets no export behind the disabled button (and the store would refuse it).
        data=(lambda: export_bytes(gallery)) if may_export else b"",
        file_name=f"vision-lab-gallery-{datetime.now(UTC):%Y-%m-%d}.zip",
        mime="application/zip",
        on_click="ignore",
        disabled=gallery.count_people() == 0 or not may_export,
        help=None if may_export else ADMIN_ONLY,
        key="gallery_export",
    )


def import_section(gallery: Gallery) -> None:
    st.subheader("Import")
    st.write(
        "Add the people and faces of an export made with the same face model. People already "
        "here (same name, ignoring case) get the imported faces; faces already here are skipped."
    )
    st.caption(
        f"Uploads are limited to {st.get_option('server.maxUploadSize')} MB; import a larger "
        "export with `python cli.py import ZIP`."
    )
    if not current_actor().may(Action.IMPORT):
        st.info(ADMIN_ONLY)
        return
    upload = st.file_uploader("A gallery export (.zip)", type=["zip"], key="gallery_import")
    if upload is not None and st.button(f"Import {md_literal(upload.name)}", type="primary"):
        try:
            with st.spinner(f"Checking and importing {md_literal(upload.name)}…"):
                summary = import_upload(gallery, upload.name, upload.getvalue())
        except VisionLabError as exc:
            show_error(exc)
        else:
            flash(import_message(upload.name, summary))
            st.rerun()


st.title("Gallery")
show_flash()
gallery = open_gallery()
where = f"Stored at `{gallery.location}` · " if current_actor().may(Action.IMPORT) else ""
st.caption(  # the server's folders are the operator's business: admins see where, users don't
    f"{where}model `{gallery.model_id}` · "
    f"{counted(gallery.count_people(), 'person', 'people')}, "
    f"{counted(gallery.count_faces(), 'face')}"
)
browse(gallery)
st.divider()
export_section(gallery)
import_section(gallery)
