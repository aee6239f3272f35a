"""Discover page: photos → groups of faces (largest first) with contact sheets; merge, "not this
person", split; name a group → its faces enrolled as one person, duplicates reported; a user
who may not enrol cannot; a zip without faces and a cancelled job say so in a sentence."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from streamlit.delta_generator import DeltaGenerator

from engine.permissions import PERMISSIONS, Action, Role
from tests.hosted_app import USER_PASSWORD, app_as
from tests.pages.face_app import enroll_directly, png, start_page, two_faces
from ui.widgets import resources
from ui.widgets.access import ADMIN_ONLY

PAGE = "ui/pages/discover.py"


@pytest.fixture
def photos(astronaut, grace_hopper) -> list[tuple[str, bytes]]:
    """Eileen Collins three times (one in the two-face photo), Grace Hopper twice."""
    return [
        ("astronaut.png", png(astronaut)),
        ("mirror.png", png(astronaut[:, ::-1])),
        ("grace.png", png(grace_hopper)),
        ("two.png", png(two_faces(astronaut, grace_hopper))),
    ]


@pytest.fixture
def progress_texts(monkeypatch) -> list[str]:
    texts: list[str] = []
    original = DeltaGenerator.progress

    def progress(self, value, text=None):
        texts.append(text)
        return original(self, value, text=text)

    monkeypatch.setattr(DeltaGenerator, "progress", progress)
    return texts


def _find(at, files: list[tuple[str, bytes]], mime: str = "image/png"):
    at.file_uploader(key="discover_upload").set_value([(n, d, mime) for n, d in files])
    at.run()
    assert not at.exception, at.exception
    at.button(key="discover_go").click().run()
    assert not at.exception, at.exception
    return at


def _found(at):
    return at.session_state["discover"]["found"]


def _sizes(at) -> list[int]:
    return [c.size for c in _found(at).clustering.clusters]


def _photos_of(at, position: int) -> set[str]:
    found = _found(at)
    cluster = found.clustering.clusters[position]
    return {face.photo.split("_", 1)[1] for face in found.faces_of(cluster)}  # "0001_x.png"


def _titles(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Group ")]


def _people() -> dict[str, int]:
    return {p.name: p.face_count for p in resources.gallery().people()}


@pytest.fixture
def found(tmp_path, monkeypatch, photos, progress_texts):
    at = start_page(PAGE, tmp_path / "data", monkeypatch)
    return _find(at, photos)


def test_find_people_groups_the_faces_largest_first(found, progress_texts) -> None:
    at = found
    assert _sizes(at) == [3, 2]
    assert _photos_of(at, 0) == {"astronaut.png", "mirror.png", "two.png"}
    assert _photos_of(at, 1) == {"grace.png", "two.png"}
    assert _titles(at) == ["**Group 1 · 3 faces**", "**Group 2 · 2 faces**"]
    assert (
        at.success[0].value
        == "4 photos, 5 faces: 2 groups of 2 or more faces, 0 faces on their own."
    )
    assert len(at.image) == 5  # a chip per face
    # the slider starts at the collection's threshold and says why
    assert at.slider(key="discover_threshold").value == 0.5
    assert any(c.value.startswith("Default threshold 0.5 for 5 faces") for c in at.caption)
    # rate and time left over photos; the Cancel button and the upload are gone when done
    photos = [t for t in progress_texts if t and t.startswith("Photos: ")]
    assert photos[0] == "Photos: 0 / 4 · starting"
    assert photos[-1].startswith("Photos: 4 / 4 · done in ")
    assert not any(b.key == "discover_cancel" for b in at.button)
    assert not at.get("progress")
    assert not any(u.value for u in at.file_uploader)


def test_merge_not_this_person_and_split(found) -> None:
    at = found
    first, second = (c.label for c in _found(at).clustering.clusters)
    at.selectbox(key=f"discover_merge_{first}").set_value(second).run()
    at.button(key=f"discover_merge_go_{first}").click().run()
    assert not at.exception, at.exception
    assert _sizes(at) == [5]

    grace_rows = [
        row
        for row in _found(at).clustering.clusters[0].members
        if _found(at).collection.faces[row].photo.endswith("grace.png")
    ]
    at.multiselect(key=f"discover_faces_{first}").set_value(grace_rows).run()
    at.button(key=f"discover_not_{first}").click().run()
    assert not at.exception, at.exception
    assert _sizes(at) == [4]
    assert len(_found(at).clustering.singletons) == 1
    assert any("1 face on its own" in s.value for s in at.success)

    members = list(_found(at).clustering.clusters[0].members)
    at.multiselect(key=f"discover_faces_{first}").set_value(members[:2]).run()
    at.button(key=f"discover_split_{first}").click().run()
    assert not at.exception, at.exception
    assert _sizes(at) == [2, 2]


def test_naming_a_group_enrols_its_faces_and_again_reports_duplicates(found) -> None:
    at = found
    label = _found(at).clustering.clusters[0].label
    assert at.selectbox(key=f"discover_who_{label}").value == "New person…"
    at.text_input(key=f"discover_name_{label}").input("Eileen Collins").run()
    at.button(key=f"discover_enrol_{label}").click().run()
    assert not at.exception, at.exception
    assert "Enrolled 3 faces as Eileen Collins." in [s.value for s in at.success]
    assert _people() == {"Eileen Collins": 3}
    # the group now matches her, and she is the default person to enrol it as
    assert _titles(at)[0] == "**Group 1 · 3 faces · looks like Eileen Collins**"
    eileen = resources.gallery().find_person("Eileen Collins")
    assert at.selectbox(key=f"discover_who_{label}").value == eileen.id

    at.button(key=f"discover_enrol_{label}").click().run()
    assert not at.exception, at.exception
    assert any(
        i.value == "3 faces already enrolled (for Eileen Collins): not stored again."
        for i in at.info
    )
    assert _people() == {"Eileen Collins": 3}


def test_a_refused_name_is_a_sentence_and_enrols_nothing(found) -> None:
    at = found
    label = _found(at).clustering.clusters[1].label
    at.text_input(key=f"discover_name_{label}").input("0123456789abcdef0123456789abcdef").run()
    at.button(key=f"discover_enrol_{label}").click().run()
    assert not at.exception, at.exception
    assert at.error[0].value.startswith("The gallery refused: a person's name must not look")
    assert _people() == {}


def test_a_user_without_the_enrol_role_cannot_enrol(tmp_path, monkeypatch, photos) -> None:
    monkeypatch.setitem(PERMISSIONS, Action.ENROL, frozenset({Role.ADMIN, Role.OPERATOR}))
    at = app_as(tmp_path / "data", monkeypatch, USER_PASSWORD)
    at.switch_page(PAGE).run()
    _find(at, photos)
    label = _found(at).clustering.clusters[0].label
    at.text_input(key=f"discover_name_{label}").input("Mallory").run()
    enrol = at.button(key=f"discover_enrol_{label}")
    assert enrol.disabled and enrol.help == ADMIN_ONLY
    enrol.proto.disabled = False  # a hostile client clicks it anyway
    enrol.click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert not errors or "Only an admin can enrol" in errors
    assert _people() == {}


def test_a_zip_with_no_faces_says_so(tmp_path, monkeypatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("holiday/grey.png", png(np.full((120, 120, 3), 128, np.uint8)))
        archive.writestr("holiday/notes.txt", b"shopping list")
    at = start_page(PAGE, tmp_path / "data", monkeypatch)
    _find(at, [("holiday.zip", buffer.getvalue())], "application/zip")
    [warning] = at.warning
    assert warning.value.startswith("No face was found in any of the 1 photo:")
    assert not _titles(at)


def test_a_cancelled_job_says_what_was_kept(tmp_path, monkeypatch, photos) -> None:
    from engine.clustering import discovery
    from engine.evaluation.embedding import EmbeddingCancelled

    def cancelled(pipeline, source, *, progress=None, should_stop=None, **options):
        progress(0, 4)
        assert should_stop() is False  # the page asks; a Cancel click makes it True
        raise EmbeddingCancelled("stopped after 0 of 4 photos; their faces are kept in the cache")

    monkeypatch.setattr(discovery, "collect_faces", cancelled)
    at = _find(start_page(PAGE, tmp_path / "data", monkeypatch), photos)
    assert at.warning[0].value.startswith("Cancelled: stopped after 0 of 4 photos")
    assert not any(b.key == "discover_cancel" for b in at.button)
    assert not _titles(at)

    # What the Cancel button's callback leaves when its click interrupts the run.
    at.session_state["discover"] = {"cancelled": True, "found": None, "message": None}
    at.run()
    assert at.warning[0].value.startswith("Cancelled")


def test_the_gallery_s_own_faces_group_by_person(tmp_path, monkeypatch, astronaut, grace_hopper):
    at = start_page(PAGE, tmp_path / "data", monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Eileen C.", np.ascontiguousarray(astronaut[:, ::-1]), "mirror")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    at.radio(key="discover_source").set_value("The gallery's own faces").run()
    at.button(key="discover_go").click().run()
    assert not at.exception, at.exception
    assert _sizes(at) == [2]  # one person enrolled under two names
    assert len(_found(at).clustering.singletons) == 1


def test_a_visitor_s_result_holds_at_most_the_operator_s_number_of_faces(
    tmp_path, monkeypatch, photos, astronaut, grace_hopper
) -> None:
    """Each kept face holds its chip in the server's memory: the page stops at
    ``VISIONLAB_DISCOVER_MAX_FACES``, for uploads and for the gallery's own faces."""
    monkeypatch.setenv("VISIONLAB_DISCOVER_MAX_FACES", "2")
    at = _find(start_page(PAGE, tmp_path / "data", monkeypatch), photos)  # 5 faces
    assert "more faces than one clustering here takes (2)" in at.error[0].value
    assert at.session_state["discover"] is None and not _titles(at)
    enroll_directly("Eileen Collins", astronaut, "astronaut")
    enroll_directly("Eileen C.", np.ascontiguousarray(astronaut[:, ::-1]), "mirror")
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    at.radio(key="discover_source").set_value("The gallery's own faces").run()
    at.button(key="discover_go").click().run()
    assert not at.exception, at.exception
    assert "the gallery holds 3 faces, more than one clustering here takes (2)" in (
        at.error[0].value
    )
    assert not _titles(at)


def test_an_admin_reads_an_allowed_server_folder(tmp_path, monkeypatch, astronaut) -> None:
    from tests.hosted_app import ADMIN_PASSWORD
    from ui.widgets.data_source import SERVER

    folder = tmp_path / "allowed" / "trip"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png(astronaut))
    (folder / "b.png").write_bytes(png(astronaut[:, ::-1]))
    roots = str(tmp_path / "allowed")
    at = app_as(tmp_path / "data", monkeypatch, ADMIN_PASSWORD, VISIONLAB_SERVER_ROOTS=roots)
    at.switch_page(PAGE).run()
    at.radio(key="discover_kind").set_value(SERVER).run()
    at.text_input(key="discover_folder").set_value("../elsewhere").run()
    assert at.error[0].value.startswith("not an allowed folder")
    assert at.button(key="discover_go").disabled
    at.text_input(key="discover_folder").set_value("trip").run()
    at.button(key="discover_go").click().run()
    assert not at.exception, at.exception
    assert _sizes(at) == [2]
    assert {f.photo for f in _found(at).collection.faces} == {"a.png", "b.png"}


def test_many_groups_are_paged_and_single_faces_listed_apart(tmp_path, monkeypatch) -> None:
    from engine.clustering import CollectedFace
    from engine.clustering.collection import FaceCollection
    from engine.clustering.discovery import group
    from engine.faces.types import Box

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(25, 128)).astype(np.float32)  # ~16 apart: 25 strangers
    vectors = [c + rng.normal(scale=0.005, size=128) for c in centres for _ in range(2)]
    vectors.append(rng.normal(size=128) * 3)  # one face of nobody else
    chip = np.zeros((150, 150, 3), np.uint8)
    faces = tuple(
        CollectedFace(f"p{i}.png#0", f"p{i}.png", f"{i:064x}", Box(0, 0, 9, 9), 1.0,
                      np.zeros((5, 2)), np.asarray(v, np.float32), chip)
        for i, v in enumerate(vectors)
    )  # fmt: skip
    found = group(FaceCollection(faces, len(faces), (), (), (), "dlib-resnet-v1"))
    at = start_page(PAGE, tmp_path / "data", monkeypatch)
    at.session_state["discover"] = {
        "cancelled": False, "found": found, "grouped_at": (0.5, 2), "notes": {}, "message": None,
    }  # fmt: skip
    at.run()
    assert not at.exception, at.exception
    assert len(_titles(at)) == 10 and _titles(at)[0] == "**Group 1 · 2 faces**"
    page = at.selectbox(key="discover_page")
    assert page.options == ["Groups 1–10", "Groups 11–20", "Groups 21–25"]
    page.set_value(3).run()
    assert [t.split(" ·")[0] for t in _titles(at)] == [f"**Group {n}" for n in range(21, 26)]
    assert any(e.label == "1 face on its own" for e in at.expander)


def test_moving_the_threshold_or_the_smallest_size_groups_again(found) -> None:
    at = found
    at.number_input(key="discover_min_size").set_value(3).run()
    assert not at.exception, at.exception
    assert _sizes(at) == [3]
    assert at.success[0].value == (
        "4 photos, 5 faces: 1 group of 3 or more faces, 2 faces in groups under the smallest size."
    )
    at.slider(key="discover_threshold").set_value(0.3).run()
    assert _found(at).clustering.options.threshold == 0.3
    assert any(c.value.startswith("Grouped again") for c in at.caption)
