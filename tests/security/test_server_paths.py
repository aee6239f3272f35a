"""Data without server paths (hosting security, part 1).

Holes found on the day, as a logged-in user: the Threshold lab's "pairs file" box took any
server path and its error quoted the file's first line; "no pairs file at …" told whether a path
existed; Neurons' "folder on this server" and Enroll's bulk "server folder" walked the whole
disk; Neurons' uploads were written under the data folder and never removed. Each test below
names the hole it guards.
"""

from __future__ import annotations

import gc
import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from engine.data_sources import (
    STALE_AFTER_SECONDS,
    NotAnAllowedFolder,
    ServerRoots,
    UploadedDataset,
    UploadLimits,
    UploadRefused,
    resolve_server_folder,
    sweep_stale_uploads,
    upload_folders,
)
from engine.errors import VisionLabError
from engine.evaluation.pair_sets import DatasetError, pairs_from_file
from engine.evaluation.pairs_file import PairsFileError
from engine.neurons.index import build_shared_index
from engine.permissions import Actor, PermissionDenied, Role
from engine.safe_zip import InvalidArchive
from tests.hosted_app import app_as
from tests.lfw_like import make_lfw_like
from tests.pages.face_app import png
from ui.widgets import resources
from ui.widgets.data_source import NO_PAIRS, SERVER

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
ADMIN, USER = Actor(Role.ADMIN), Actor(Role.USER)
SECRET_LINES = [
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG",
    "root:x:0:0:root:/root:/bin/bash",
    "DB_PASSWORD hunter2 swordfish",
    "TOKEN 1 s3cr3t-t0ken 2",
]
DATA_PAGES = ["threshold_lab", "train", "neurons", "enroll", "discover"]


@pytest.fixture(autouse=True)
def own_temp(tmp_path, monkeypatch) -> Path:
    """Uploads unpack under this test's own temporary directory, so counting them is exact."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def layout(tmp_path) -> dict[str, Path]:
    """An allowed root with a folder of people in it, and beside it a secret folder."""
    allowed = tmp_path / "allowed"
    (allowed / "people" / "Eileen").mkdir(parents=True)
    secret = tmp_path / "secret"
    (secret / "Private").mkdir(parents=True)
    (secret / "Private" / "photo.jpg").write_bytes(b"private")
    (allowed / "a_file.txt").write_text("not a folder")
    (allowed / "link_out").symlink_to(secret, target_is_directory=True)
    (allowed / "dead_link").symlink_to(tmp_path / "nothing", target_is_directory=True)
    return {"allowed": allowed, "secret": secret, "tmp": tmp_path}


def _escapes(layout: dict[str, Path]) -> dict[str, str]:
    """Each attempt at a folder outside the root (or no folder at all), existing or not."""
    allowed, tmp = layout["allowed"], layout["tmp"]
    return {
        "outside, exists": str(layout["secret"]),
        "outside, missing": str(tmp / "nothing"),
        "system folder": "/etc",
        "dot-dot, exists": str(allowed / ".." / "secret"),
        "dot-dot, missing": str(allowed / ".." / "nothing"),
        "relative dot-dot": "../secret",
        "symlink out, exists": str(allowed / "link_out"),
        "symlink out, missing": str(allowed / "dead_link"),
        "symlink then inside": str(allowed / "link_out" / "Private"),
        "missing inside": str(allowed / "nobody"),
        "a file inside": str(allowed / "a_file.txt"),
        "home": "~",
        "NUL byte": "people\0",
    }


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _lfw_zip(tmp_path: Path, astronaut, grace_hopper, pairs: bytes | None = None) -> bytes:
    root = tmp_path / "lfw_like"
    pairs_file = make_lfw_like(root, astronaut, grace_hopper)
    if pairs is not None:
        pairs_file.write_bytes(pairs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def _app(data_dir: Path, monkeypatch, password: str, roots: Path | None = None) -> AppTest:
    env = {} if roots is None else {"VISIONLAB_SERVER_ROOTS": str(roots)}
    return app_as(data_dir, monkeypatch, password, **env)


def _messages(at: AppTest) -> str:
    shown = [*at.error, *at.warning, *at.info, *at.caption, *at.markdown, *at.success]
    return "\n".join(str(e.value) for e in shown) + "\n".join(str(t.value) for t in at.text)


# --- server folders ---------------------------------------------------------------------------
def test_a_user_gets_no_server_path_input_on_the_data_pages(tmp_path, monkeypatch) -> None:
    """Hole: a user typed any server path into the Threshold lab's pairs box, Train's folder,
    Neurons' "folder on this server" and Enroll's bulk folder (Discover, added later, reads
    collections the same way). Even with roots configured, a user is offered uploads only,
    with the caps beside the uploader."""
    at = _app(tmp_path / "data", monkeypatch, "visitor", roots=tmp_path)
    for page in DATA_PAGES:
        at.switch_page(f"ui/pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert not [t.key for t in at.text_input], page  # no box takes a path
        assert not any(SERVER in r.options for r in at.radio), page
        assert any(u.key.endswith("_upload") for u in at.file_uploader), page
        assert any("images," in c.value and "MB unpacked" in c.value for c in at.caption), page


def test_the_engine_refuses_a_user_a_server_folder_even_inside_the_roots(layout) -> None:
    """Hole: the check sat in no engine function, so hiding the box was all there was."""
    roots = ServerRoots((layout["allowed"],))
    with pytest.raises(PermissionDenied, match="Only an admin can read a server folder"):
        resolve_server_folder(str(layout["allowed"] / "people"), roots, USER)
    people = (layout["allowed"] / "people").resolve()
    assert resolve_server_folder("people", roots, ADMIN) == people
    assert resolve_server_folder(str(layout["allowed"]), roots, ADMIN) == people.parent


def test_escapes_read_the_same_whether_or_not_the_target_exists(layout) -> None:
    """Holes: "no pairs file at …" / "not a folder" told whether a path existed, and a folder
    outside any root (the whole disk, reached directly, by ``..`` or through a symbolic link)
    was walked. Every escape now gets one sentence, the same for all."""
    roots = ServerRoots((layout["allowed"].resolve(),))
    messages = {}
    for case, text in _escapes(layout).items():
        with pytest.raises(NotAnAllowedFolder) as refused:
            resolve_server_folder(text, roots, ADMIN)
        messages[case] = str(refused.value)
    assert len(set(messages.values())) == 1, messages
    assert next(iter(messages.values())).startswith("not an allowed folder")
    # No roots configured: no server folder at all, even for an admin (and local mode).
    with pytest.raises(NotAnAllowedFolder, match="allows no folders"):
        resolve_server_folder(str(layout["allowed"]), ServerRoots(()), ADMIN)


def test_an_admin_page_says_the_same_for_every_escape(layout, monkeypatch) -> None:
    """Hole: Enroll's bulk folder took any folder and listed other files' names; as an admin,
    escapes from the allowed root get the same message on the page and nothing is read."""
    at = _app(layout["tmp"] / "data", monkeypatch, "boss", roots=layout["allowed"])
    at.switch_page("ui/pages/enroll.py").run()
    at.radio(key="bulk_kind").set_value(SERVER).run()
    shown = set()
    for case, text in _escapes(layout).items():
        if "\0" in text:
            continue  # a browser cannot type a NUL byte; the engine test covers it
        at.text_input(key="bulk_folder").set_value(text).run()
        assert not at.exception, (case, at.exception)
        [error] = [e.value for e in at.error]
        shown.add(error)
        assert next(b for b in at.button if b.label == "Start bulk enrolment").disabled
    assert len(shown) == 1 and next(iter(shown)).startswith("not an allowed folder")
    assert "Private" not in _messages(at) and "photo.jpg" not in _messages(at)


# --- pairs files ------------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(len(SECRET_LINES)))
def test_a_pairs_file_with_secrets_is_never_quoted(tmp_path, index) -> None:
    """Hole: the Threshold lab's error quoted a pairs file's first line (an env file with
    secrets, /etc/passwd). Messages now give the line number and what was expected."""
    secret = SECRET_LINES[index]
    (tmp_path / "images").mkdir()
    variants = {
        "as header": f"{secret}\nEileen 1 2\nEileen 1 Grace 1\n",
        "as a pair line": f"1\n{secret}\nEileen 1 Grace 1\n",
        "as the second line": f"1\nEileen 1 2\n{secret}\n",
        "count mismatch": f"5\n{secret}\n",
    }
    for case, text in variants.items():
        path = tmp_path / "pairs.txt"
        path.write_text(text)
        with pytest.raises((ValueError, VisionLabError)) as refused:
            pairs_from_file(path, tmp_path / "images")
        message = str(refused.value)
        for word in secret.replace("=", " ").replace(":", " ").split():
            if len(word) > 3 and not word.isdigit():
                assert word not in message, (case, message)


def test_a_missing_image_is_named_by_its_line_not_its_content(tmp_path) -> None:
    """Hole: "… missing under …, e.g. <name from the file>" echoed the file's content."""
    (tmp_path / "images").mkdir()
    path = tmp_path / "pairs.txt"
    path.write_text("1\nhunter2_password 1 2\nEileen 1 Grace 1\n")
    with pytest.raises(DatasetError) as refused:
        pairs_from_file(path, tmp_path / "images")
    assert "hunter2" not in str(refused.value) and "named on line 3" in str(refused.value)
    path.write_text("1\n../../etc 1 2\nEileen 1 Grace 1\n")  # names are folders, never paths
    with pytest.raises(PairsFileError, match=r"pairs.txt:2: .* not a path"):
        pairs_from_file(path, tmp_path / "images")


def test_the_lab_never_shows_an_uploaded_pairs_files_content(
    tmp_path, monkeypatch, astronaut, grace_hopper
) -> None:
    """Hole: the lab's message quoted the pairs file; now through an upload, as a user."""
    at = _app(tmp_path / "data", monkeypatch, "visitor")
    at.switch_page("ui/pages/threshold_lab.py").run()
    for secret in SECRET_LINES:
        data = _lfw_zip(tmp_path, astronaut, grace_hopper, f"{secret}\n".encode())
        at.file_uploader(key="lab_upload").set_value(("mine.zip", data, "application/zip"))
        at.run()
        at.button(key="lab_go").click().run()
        assert not at.exception, at.exception
        assert at.error, "a malformed pairs file is refused"
        shown = _messages(at)
        assert secret not in shown and secret.split()[0] not in shown, shown


# --- uploads ----------------------------------------------------------------------------------
def test_an_uploaded_zip_with_pairs_runs_the_threshold_lab_for_a_user(
    tmp_path, monkeypatch, own_temp, astronaut, grace_hopper
) -> None:
    """The feature that was missing: an analyst tunes a threshold on their own labelled photos
    in a hosted app, from an upload; nothing of it lands in the data folder."""
    data_dir = tmp_path / "data"
    at = _app(data_dir, monkeypatch, "visitor")
    at.switch_page("ui/pages/threshold_lab.py").run()
    data = _lfw_zip(tmp_path, astronaut, grace_hopper)
    at.file_uploader(key="lab_upload").set_value(("my_people.zip", data, "application/zip"))
    at.run()
    assert at.selectbox(key="lab_pairs_file").value == "pairs.txt"
    at.button(key="lab_go").click().run()
    assert not at.exception, at.exception
    assert any("8 pairs as listed in pairs.txt" in c.value for c in at.caption)
    assert next(m.value for m in at.metric if m.label == "ROC AUC") == "1.0000"
    [folder] = upload_folders()
    assert folder.parent == own_temp and (folder / "cache").is_dir()  # embeddings stay in it
    assert not (data_dir / "cache").exists()
    # Without its pairs file: every genuine pair and sampled impostors, same photos.
    at.selectbox(key="lab_pairs_file").set_value(NO_PAIRS).run()
    at.button(key="lab_go").click().run()
    assert not at.exception, at.exception
    assert any("2 people, 5 images: all 4 genuine pairs" in c.value for c in at.caption)
    # Removing the upload removes its folder.
    at.file_uploader(key="lab_upload").set_value(None)
    at.run()
    assert upload_folders() == []


def test_caps_refuse_too_many_files_bytes_or_images_in_a_sentence(astronaut) -> None:
    """Hole: an upload had no bound; each cap now refuses with a sentence naming the limit."""
    photo = png(astronaut[:64, :64])
    many = _zip({f"P{i}/{i}.png": photo for i in range(5)})
    with pytest.raises(InvalidArchive, match="the zip has 5 files, over the limit of 4"):
        UploadedDataset.from_zip("many.zip", many, UploadLimits(max_files=4))
    with pytest.raises(InvalidArchive, match=r"would unpack to .* MB, over the limit of"):
        UploadedDataset.from_zip("big.zip", many, UploadLimits(max_bytes=len(photo) * 2))
    with pytest.raises(UploadRefused, match="5 images, over the limit of 3"):
        UploadedDataset.from_zip("images.zip", many, UploadLimits(max_images=3))
    with pytest.raises(UploadRefused, match="over the limit of 2"):
        UploadedDataset.from_photos([("a.png", photo)] * 3, UploadLimits(max_files=2))
    with pytest.raises(UploadRefused, match="MB, over the limit of"):
        UploadedDataset.from_photos([("a.png", photo)] * 3, UploadLimits(max_bytes=len(photo)))
    with pytest.raises(UploadRefused, match="not a readable zip file"):
        UploadedDataset.from_zip("junk.zip", b"root:x:0:0")
    # An entry over the one-file cap is left out and listed, the rest unpacked.
    with UploadedDataset.from_zip("ok.zip", many, UploadLimits(max_file_bytes=10)) as upload:
        assert len(upload.left_out) == 5 and "over the" in upload.left_out[0]
    assert upload_folders() == []  # refused uploads left no folder behind


def test_upload_folders_go_after_the_job_the_session_and_the_sweep(own_temp, astronaut) -> None:
    """Hole: uploads were written under the data folder and never removed."""
    data = _zip({"Eileen/a.png": png(astronaut), "pairs.txt": b"1\n"})
    with UploadedDataset.from_zip("job.zip", data) as upload:  # a job's life
        assert (upload.dataset.root / "Eileen" / "a.png").is_file()
        assert upload.folder.parent == own_temp
    assert upload.closed and upload_folders() == []

    held = UploadedDataset.from_zip("session.zip", data)  # a session's life
    folder = held.folder
    del held
    gc.collect()
    assert not folder.exists()

    stale = UploadedDataset.from_zip("stale.zip", data)  # a process killed: the sweep
    old = time.time() - STALE_AFTER_SECONDS - 60
    os.utime(stale.folder, (old, old))
    fresh = UploadedDataset.from_zip("fresh.zip", data)  # every new upload sweeps first
    assert not stale.folder.exists() and fresh.folder.exists()
    assert sweep_stale_uploads() == 0 and upload_folders() == [fresh.folder]
    fresh.close()


def test_bulk_enrolment_removes_its_upload_when_done(tmp_path, monkeypatch, astronaut) -> None:
    """Hole: upload files outlived the job. Enroll's bulk tab, as a user: the zip is enrolled,
    its folder removed, and the ignored list names only files inside the upload."""
    at = _app(tmp_path / "data", monkeypatch, "visitor")
    at.switch_page("ui/pages/enroll.py").run()
    data = _zip({"Eileen_Collins/a.png": png(astronaut), "notes.txt": b"SECRET=1"})
    at.file_uploader(key="bulk_upload").set_value(("faces.zip", data, "application/zip"))
    at.run()
    assert len(upload_folders()) == 1
    next(b for b in at.button if b.label == "Start bulk enrolment").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith("Done: 1 images")
    assert upload_folders() == []
    ignored = "\n".join(t.value for t in at.text)
    assert ignored == "notes.txt: not inside a person folder"


def test_a_dropped_session_removes_its_upload(tmp_path, monkeypatch, astronaut) -> None:
    """Hole: nothing removed uploads when a visitor left. The session state holds the upload;
    once the session is gone, so is the folder."""
    at = _app(tmp_path / "data", monkeypatch, "visitor")
    at.switch_page("ui/pages/train.py").run()
    data = _zip({f"P{i}/{j}.png": png(astronaut[j:, :]) for i in range(2) for j in range(2)})
    at.file_uploader(key="train_upload").set_value(("people.zip", data, "application/zip"))
    at.run()
    [folder] = upload_folders()
    del at
    gc.collect()
    assert not folder.exists()


def test_neuron_uploads_stay_out_of_the_data_folder(tmp_path, monkeypatch, astronaut) -> None:
    """Hole: Neurons wrote every upload under the data folder and kept it (450 MB from a few
    clicks). Now an upload and its index live in the session's temporary folder."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    resources.settings.clear()
    at = AppTest.from_file(str(REPO / "ui" / "pages" / "neurons.py"), default_timeout=180)
    at.session_state["access_role"] = "user"
    at.run()
    assert at.radio(key="neurons_source").options == ["Your images"]  # no shared index
    crops = [np.ascontiguousarray(astronaut[i * 40 : i * 40 + 200, :200]) for i in range(3)]
    photos = [(f"p{i}.png", png(crop), "image/png") for i, crop in enumerate(crops)]
    at.selectbox(key="neurons_model").set_value("face")
    at.file_uploader(key="neurons_upload").set_value(photos)
    at.multiselect(key="neurons_layers_face").set_value(["conv1"])
    at.number_input(key="neurons_k").set_value(2).run()
    at.button(key="neurons_build").click().run()
    assert not at.exception, at.exception
    assert not (data_dir / "neurons").exists()
    [folder] = upload_folders()
    assert list((folder / "private" / "neurons").glob("face-*/meta.json"))
    assert any("(yours, temporary)" in o for o in at.selectbox(key="neurons_index").options)
    at.file_uploader(key="neurons_upload").set_value(None)
    at.run()
    assert upload_folders() == []


def test_a_shared_neuron_index_is_for_admins_only(tmp_path) -> None:
    """Hole: any visitor could write an index every user then browses."""
    with pytest.raises(PermissionDenied, match="build a shared neuron index"):
        build_shared_index(USER, None, tmp_path, tmp_path, ["conv1"])  # type: ignore[arg-type]
    assert not (tmp_path / "neurons").exists()


def test_training_on_an_upload_removes_it_when_done(
    tmp_path, monkeypatch, astronaut, grace_hopper
) -> None:
    """Hole: Train read only server folders; now a user trains on an upload, and its folder
    goes once the embeddings are in memory (the curves stay shown)."""
    at = _app(tmp_path / "data", monkeypatch, "visitor")
    at.switch_page("ui/pages/train.py").run()
    people = {"Eileen": astronaut, "Grace": grace_hopper}
    data = _zip(
        {
            f"{name}/{name}_{i}.png": png(np.ascontiguousarray(variant))
            for name, photo in people.items()
            for i, variant in enumerate((photo, photo[:, ::-1], photo[16:-16, 24:-12]))
        }
    )
    at.file_uploader(key="train_upload").set_value(("people.zip", data, "application/zip"))
    at.run()
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_k").set_value(3).run()
    assert len(upload_folders()) == 1
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert upload_folders() == []
    assert any("1 epochs with semi-hard mining on 2 people" in c.value for c in at.caption)
    assert not (tmp_path / "data" / "cache").exists()
