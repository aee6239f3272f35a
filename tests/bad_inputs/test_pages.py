"""Every page that takes a file, fed the whole corpus through AppTest: Enroll (photos and bulk),
Verify, Recognize and the Threshold lab. No page exception; each input gets a plain message
naming it; the gallery's checksum is unchanged by what is refused (nothing is clicked to enrol).

Several inputs go through one AppTest run where the widget allows it (Enroll takes many photos
at once); one-file widgets get one rerun per input on the same app.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.bad_inputs.conftest import record
from tests.bad_inputs.corpus import gallery_checksum
from tests.pages.face_app import enroll_directly, png, start_page, upload
from ui.widgets import resources
from ui.widgets.face_widgets import IMAGE_TYPES


def _name(item) -> str:
    """The name uploaded: the uploader itself refuses other extensions (``drawing.svg`` is never
    sent), so an SVG comes as ``drawing.svg.png`` — SVG content under an image's name."""
    name = item.upload_name
    return name if name.rsplit(".", 1)[-1].lower() in IMAGE_TYPES else f"{name}.png"


def _texts(at) -> list[str]:
    return [e.value for e in (*at.error, *at.warning, *at.info)]


def _checksum(data_dir) -> str:
    return gallery_checksum(data_dir, resources.gallery())


def _expected_message(item, texts: list[str], name: str) -> str | None:
    """The problem with the page's messages for ``item``, or None when they are right."""
    if item.expect == "invalid":
        wanted = f"{name} can't be read as an image"
        if not any(t.startswith(wanted) and item.message.lower() in t.lower() for t in texts):
            return f"{name}: no message {wanted!r} with {item.message!r} in {texts}"
    elif item.expect == "no_face":
        if not any(t.startswith("No face was found in") for t in texts):
            return f"{name}: no 'No face was found' message in {texts}"
    elif any(name in t for t in texts):
        return f"{name}: unexpected message {texts}"
    return None


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def test_enroll_page(images, zips, refused_folder, data_dir, monkeypatch, grace_hopper):
    at = start_page("ui/pages/enroll.py", data_dir, monkeypatch)
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    before = _checksum(data_dir)

    # Photos: every image at once, as a user selecting a folder's worth of files would.
    upload(at, "enroll", *((_name(i), i.data) for i in images))
    crashed = bool(at.exception)
    problems = [f"exception: {at.exception}"] if crashed else []
    texts = _texts(at)
    radios = [r.label for r in at.radio]
    for item in images:
        problem = _expected_message(item, texts, _name(item))
        if item.expect == "several" and f"20 faces in {_name(item)}: which one?" not in radios:
            problem = f"{_name(item)}: no pick among 20 faces in {radios}"
        problems += [problem] if problem else []
        record("page Enroll: photos", crashed=crashed)
    assert _checksum(data_dir) == before
    upload(at, "enroll")  # clear them, so the bulk runs below do not analyse them again

    # Bulk: each zip, then a folder of every image that must be refused.
    for item in zips:
        # A zip is unpacked when uploaded, so a refusal shows then; each enrolment empties the
        # uploader (a new key) once the job is over.
        _bulk_uploader(at).set_value((item.name, item.data, "application/zip"))
        at.run()
        start = next(b for b in at.button if b.label == "Start bulk enrolment")
        if not start.disabled:  # disabled: refused as it was unpacked, the error shown
            start.click().run()
        crashed = bool(at.exception)
        texts = [e.value for e in at.error]
        if crashed:
            problems.append(f"{item.name}: exception {at.exception}")
        elif item.expect == "refused":
            if not any(item.message.lower() in t.lower() for t in texts):
                problems.append(f"{item.name}: no refusal with {item.message!r} in {texts}")
        elif not at.success or not at.success[0].value.startswith("Done:"):
            problems.append(f"{item.name}: no summary ({texts})")
        lost = _checksum(data_dir) != before
        problems += [f"{item.name}: the gallery changed"] if lost else []
        record("page Enroll: bulk zip", crashed=crashed, lost=lost)
    # The folder: local mode is an admin, and the folder's parent is an allowed server root.
    monkeypatch.setenv("VISIONLAB_SERVER_ROOTS", str(refused_folder.parent))
    resources.settings.clear()
    at.run()
    at.radio(key="bulk_kind").set_value("A folder on this server").run()
    at.text_input(key="bulk_folder").input(str(refused_folder)).run()
    next(b for b in at.button if b.label == "Start bulk enrolment").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Enrolled"] == "0" and metrics["Unreadable"] == "9", metrics
    assert metrics["No face"] == "4" and metrics["Several faces"] == "1", metrics
    record("page Enroll: bulk folder", lost=_checksum(data_dir) != before)
    assert _checksum(data_dir) == before
    assert not problems, "\n".join(problems)


def _bulk_uploader(at):
    return next(u for u in at.file_uploader if u.key.startswith("bulk_upload"))


def _one_by_one(at, key: str, images, entry: str, check, data_dir) -> list[str]:
    """Upload each image into the one-file uploader ``key``; ``check(at, item)`` → problem."""
    problems = []
    before = _checksum(data_dir)
    for item in images:
        upload(at, key, (_name(item), item.data))
        crashed = bool(at.exception)
        problem = f"{item.name}: exception {at.exception}" if crashed else check(at, item)
        problems += [problem] if problem else []
        record(entry, crashed=crashed)
    if _checksum(data_dir) != before:
        problems.append(f"{entry}: the gallery changed")
    return problems


def test_verify_page(images, data_dir, monkeypatch, astronaut):
    at = start_page("ui/pages/verify.py", data_dir, monkeypatch)
    upload(at, "verify_b", ("reference.png", png(astronaut)))

    def check(at, item) -> str | None:
        problem = _expected_message(item, _texts(at), _name(item))
        if problem or item.expect in ("invalid", "no_face"):
            return problem
        if not at.success or not at.success[0].value.startswith("**Same person**"):
            return f"{item.name}: no 'Same person' ({_texts(at)})"
        return None

    problems = _one_by_one(at, "verify_a", images, "page Verify", check, data_dir)
    assert not problems, "\n".join(problems)


def test_recognize_page(images, data_dir, monkeypatch, astronaut):
    at = start_page("ui/pages/recognize.py", data_dir, monkeypatch)
    enroll_directly("Eileen Collins", astronaut, "eileen")
    at.run()

    def check(at, item) -> str | None:
        texts = _texts(at)
        problem = _expected_message(item, texts, _name(item))
        if problem or item.expect in ("invalid", "no_face"):
            return problem
        named = [m.value for m in at.markdown if m.value.startswith("**Face ")]
        wanted = 20 if item.expect == "several" else 1
        if len(named) != wanted or "**Face 1: Eileen Collins**" not in named[0]:
            return f"{item.name}: {named[:3]} ({len(named)} faces named)"
        return None

    problems = _one_by_one(at, "recognize", images, "page Recognize", check, data_dir)
    assert not problems, "\n".join(problems)


def _zip_with_pairs(item) -> bytes:
    """The item's image root with the pairs file at the zip's root, as ``pairs.txt``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(item.root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(item.root).as_posix())
        archive.writestr("pairs.txt", item.data)
    return buffer.getvalue()


def test_threshold_lab_pairs_files(pairs_files, data_dir, monkeypatch):
    at = start_page("ui/pages/threshold_lab.py", data_dir, monkeypatch)
    problems = []
    for item in pairs_files:
        # Each pairs file uploaded as an analyst would: in a zip beside its images.
        at.file_uploader(key="lab_upload").set_value(
            (f"{item.name}.zip", _zip_with_pairs(item), "application/zip")
        )
        at.run()
        at.button(key="lab_go").click().run()
        crashed = bool(at.exception)
        # Messages reach the page with Markdown neutralised ("\\:" and a word joiner).
        texts = [e.value.replace("\\", "").replace("\u2060", "") for e in at.error]
        if crashed:
            problems.append(f"{item.name}: exception {at.exception}")
        elif not any(item.message.lower() in t.lower() for t in texts):
            problems.append(f"{item.name}: no message with {item.message!r} in {texts}")
        record("page Threshold lab: pairs file", crashed=crashed)
    assert not problems, "\n".join(problems)


def test_gallery_page_import(zips, data_dir, monkeypatch, grace_hopper):
    at = start_page("ui/pages/gallery.py", data_dir, monkeypatch)
    enroll_directly("Grace Hopper", grace_hopper, "grace")
    before = _checksum(data_dir)
    problems = []
    for item in zips:
        at.file_uploader(key="gallery_import").set_value((item.name, item.data, "application/zip"))
        at.run()
        next(b for b in at.button if b.label == f"Import {item.name}").click().run()
        crashed = bool(at.exception)
        texts = [e.value for e in at.error]
        if crashed:
            problems.append(f"{item.name}: exception {at.exception}")
        elif not any(item.name in t for t in texts):  # refused, naming the uploaded file
            problems.append(f"{item.name}: no refusal naming it in {texts}")
        lost = _checksum(data_dir) != before
        problems += [f"{item.name}: the gallery changed"] if lost else []
        record("page Gallery: import", crashed=crashed, lost=lost)
    assert not problems, "\n".join(problems)
