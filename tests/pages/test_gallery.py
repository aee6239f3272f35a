"""Gallery page: the people table, rename, notes, face removal, confirmed deletion and merge,
and the export → import round trip through the page's own download button and uploader, with
unreadable or unsafe uploads refused as plain messages that change nothing."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from tests.pages.face_app import enroll_directly, start_page
from ui.widgets import resources


@pytest.fixture
def at(tmp_path, monkeypatch):
    return start_page("ui/pages/gallery.py", tmp_path / "data", monkeypatch)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, tuple[str, Callable[[], bytes]]]:
    """(mime type, data callable) of every deferred download button, by file name.

    AppTest drops its media file manager after each run, so the callable is caught as the page
    registers it; calling it is what a click on the button does.
    """
    served: dict[str, tuple[str, Callable[[], bytes]]] = {}
    register = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        served[file_name] = (mimetype, data_callable)
        return register(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return served


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _import(at, name: str, data: bytes):
    """Drop a file into the import uploader and click Import, as a user would."""
    next(u for u in at.file_uploader if u.key == "gallery_import").set_value(
        (name, data, "application/zip")
    )
    at.run()
    return _button(at, f"Import {name}").click().run()


def _names(at) -> list[str]:
    return list(at.dataframe[0].value["name"])


def test_an_empty_gallery_still_offers_import(at):
    assert not at.exception, at.exception
    assert "gallery is empty" in at.info[0].value
    assert "model `dlib-resnet-v1`" in at.caption[0].value
    assert str(resources.gallery().location) in at.caption[0].value
    assert [u.key for u in at.file_uploader] == ["gallery_import"]
    assert not at.dataframe


def test_rename_edit_notes_then_delete_a_person_after_confirming(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    assert list(at.dataframe[0].value.columns) == ["name", "faces", "created", "notes"]
    person_id = at.selectbox(key="browse_person").value
    at.text_input(key=f"rename_{person_id}").input("Eileen M. Collins").run()
    _button(at, "Rename").click().run()
    assert at.success[0].value == "Renamed Eileen Collins to Eileen M. Collins."
    assert _names(at) == ["Eileen M. Collins"]

    at.text_area(key=f"notes_{person_id}").input("STS-63 pilot").run()
    _button(at, "Save notes").click().run()
    assert at.success[0].value == "Saved the notes on Eileen M. Collins."
    assert list(at.dataframe[0].value["notes"]) == ["STS-63 pilot"]
    assert resources.gallery().get_person(person_id).notes == "STS-63 pilot"

    _button(at, "Delete Eileen M. Collins…").click().run()
    assert "Every embedding and stored image" in at.warning[0].value
    assert "cannot be undone" in at.warning[0].value
    assert resources.gallery().count_people() == 1  # asking is not deleting
    _button(at, "Yes, delete").click().run()
    assert at.success[0].value == "Deleted Eileen M. Collins."
    assert "gallery is empty" in at.info[0].value
    assert resources.gallery().count_people() == 0


def test_cancelling_a_deletion_keeps_the_person_and_a_face_can_be_removed(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Eileen Collins", astronaut[:, ::-1], "mirror")
    at.run()
    _button(at, "Delete Eileen Collins…").click().run()
    _button(at, "Cancel").click().run()
    assert not at.warning and resources.gallery().count_faces() == 2

    _button(at, "Remove").click().run()
    _button(at, "Yes, delete").click().run()
    assert at.success[0].value == "Removed a face of Eileen Collins."
    assert resources.gallery().count_faces() == 1
    assert list(at.dataframe[0].value["faces"]) == [1]


def test_merge_moves_every_face_and_the_other_person_disappears(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("E. Collins", astronaut[:, ::-1], "mirror")
    gallery = resources.gallery()
    keep, absorb = gallery.find_person("Eileen Collins"), gallery.find_person("E. Collins")
    gallery.set_notes(absorb.id, "enrolled twice by mistake")
    [moving] = gallery.faces_of(absorb.id)
    at.run()

    at.selectbox(key="browse_person").set_value(keep.id).run()
    at.selectbox(key=f"merge_from_{keep.id}").set_value(absorb.id).run()
    assert any("record disappears" in c.value for c in at.caption)
    _button(at, "Merge E. Collins into Eileen Collins…").click().run()
    assert "cannot be undone" in at.warning[0].value
    assert gallery.count_people() == 2  # asking is not merging
    _button(at, "Yes, merge").click().run()

    assert not at.exception, at.exception
    assert at.success[0].value == "Merged E. Collins into Eileen Collins: 2 faces now."
    assert _names(at) == ["Eileen Collins"] and list(at.dataframe[0].value["faces"]) == [2]
    assert gallery.find_person("E. Collins") is None
    moved = next(f for f in gallery.faces_of(keep.id) if f.id == moving.id)
    assert moved.chip_path.is_file() and moved.chip_path.parent.name == keep.id
    assert gallery.get_person(keep.id).notes == "enrolled twice by mistake"
    assert at.text_area(key=f"notes_{keep.id}").value == "enrolled twice by mistake"


def test_export_then_import_into_a_fresh_data_folder(
    tmp_path, monkeypatch, downloads, astronaut, grace_hopper
):
    at = start_page("ui/pages/gallery.py", tmp_path / "data", monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    at.run()
    assert any("biometric data" in m.value for m in at.markdown)
    [(file_name, (mime, make_zip))] = downloads.items()
    assert file_name.startswith("vision-lab-gallery-") and file_name.endswith(".zip")
    assert mime == "application/zip"
    exported = make_zip()  # what clicking the download button serves
    assert zipfile.ZipFile(io.BytesIO(exported)).testzip() is None

    fresh = start_page("ui/pages/gallery.py", tmp_path / "fresh", monkeypatch)
    assert "gallery is empty" in fresh.info[0].value
    _import(fresh, "backup.zip", exported)
    assert not fresh.exception, fresh.exception
    assert fresh.success[0].value == (
        "Imported backup.zip: 2 faces; 2 new people, 0 matched to people already here."
    )
    assert _names(fresh) == ["Eileen Collins", "Grace Hopper"]
    assert resources.gallery().data_dir == tmp_path / "fresh" / "gallery"
    assert resources.gallery().count_faces() == 2


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"these are not the bytes of a zip", "photos.zip is not a readable zip file"),
        (
            _zip({"manifest.json": b"{}", "../evil.png": b"\x89PNG"}),
            "photos.zip contains an unsafe path '../evil.png'",
        ),
    ],
    ids=["not-a-zip", "path-traversal"],
)
def test_a_bad_upload_is_a_plain_error_and_changes_nothing(at, astronaut, data, message):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    _import(at, "photos.zip", data)
    assert not at.exception, at.exception
    assert message in at.error[0].value
    assert "vision-lab-import" not in at.error[0].value  # names the upload, not a temp file
    assert not at.success
    assert _names(at) == ["Eileen Collins"]
    gallery = resources.gallery()
    assert gallery.count_people() == 1 and gallery.count_faces() == 1


# --- finding people, paging faces, readable dates ----------------------------------------------


def _enroll_copies(name: str, image, copies: int) -> None:
    """``copies`` faces of one person: the photo analysed once, stored under distinct image
    hashes (the store keeps one face per image hash and box, so these are not duplicates)."""
    from store import NewFace

    pipeline = resources.face_pipeline()
    [face] = pipeline.analyze(image)
    gallery = resources.gallery()
    for copy in range(copies):
        sha = hashlib.sha256(f"{name}-{copy}".encode()).hexdigest()
        gallery.enroll(name, NewFace.from_face(face, sha, pipeline.model_id))


def _search(at, query: str):
    return at.text_input(key="gallery_search").input(query).run()


def test_search_filters_people_by_name_as_plain_text(at, astronaut, grace_hopper):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    enroll_directly("[x](http://e.vil)", astronaut[:, ::-1], "mirror")
    at.run()
    assert sorted(_names(at)) == ["Eileen Collins", "Grace Hopper", "[x](http://e.vil)"]

    _search(at, "hOPPER")  # any case
    assert not at.exception, at.exception
    assert _names(at) == ["Grace Hopper"]
    assert at.selectbox(key="browse_person").options == ["Grace Hopper (1 face)"]
    assert any(c.value == "1 of 3 people match." for c in at.caption)

    _search(at, "](http://e.vil")  # Markdown's characters, looked for as characters
    assert _names(at) == ["[x](http://e.vil)"]

    _search(at, ".*")  # a regex would match everyone; as text it matches no one
    assert not at.dataframe
    [nobody] = at.info
    assert nobody.value == "Nobody's name contains .\\*."  # md_literal: the * is no emphasis

    _search(at, "[x](http://e.vil)")  # the whole name, shown back inert
    assert _names(at) == ["[x](http://e.vil)"]
    _search(at, "[x](http://e.vil)z")  # no such name: the message shows it literally
    [nobody] = at.info
    assert "\\[x\\](http\\:\u2060//e.vil)z" in nobody.value  # md_literal: no link can form

    _search(at, "")
    assert len(_names(at)) == 3


def test_many_faces_are_paged_twelve_at_a_time(at, astronaut):
    _enroll_copies("Eileen Collins", astronaut, 14)
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button].count("Remove") == 12
    assert any(c.value == "Faces 1–12 of 14." for c in at.caption)
    person_id = at.selectbox(key="browse_person").value
    page = at.number_input(key=f"faces_page_{person_id}")
    assert page.value == 1 and page.max == 2

    page.set_value(2).run()
    assert [b.label for b in at.button].count("Remove") == 2
    assert any(c.value == "Faces 13–14 of 14." for c in at.caption)

    # Removing faces until one page is left: the picker goes and the page stays valid.
    for _ in range(2):
        _button(at, "Remove").click().run()
        _button(at, "Yes, delete").click().run()
    assert not at.exception, at.exception
    assert resources.gallery().count_faces() == 12
    assert [b.label for b in at.button].count("Remove") == 12
    assert not at.number_input


def test_a_person_with_few_faces_gets_no_page_picker(at, astronaut):
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    assert not at.number_input
    assert [b.label for b in at.button].count("Remove") == 1


def test_dates_are_shown_readably(at, astronaut, monkeypatch):
    monkeypatch.setattr("store.gallery.now", lambda: "2026-12-03T14:05:09+00:00")
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    at.run()
    assert resources.gallery().people()[0].created == "2026-12-03T14:05:09+00:00"
    assert list(at.dataframe[0].value["created"]) == ["3 Dec 2026, 14:05 UTC"]
