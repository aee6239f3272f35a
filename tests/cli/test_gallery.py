"""The gallery commands of the CLI on one temporary gallery: enroll, identify, verify, people,
delete; --json documents on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.open_set import open_set_threshold

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def _json(*args: str) -> dict:
    result = _cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """faces/<person>/<images> to enrol, and probe photos beside it."""
    root = tmp_path_factory.mktemp("cli")
    eileen = root / "faces" / "Eileen_Collins"
    eileen.mkdir(parents=True)
    Image.fromarray(astronaut).save(eileen / "astronaut.png")
    (eileen / "notes.jpg").write_text("not a photo")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(root / "mirror.png")
    Image.fromarray(grace_hopper).save(root / "grace.png")
    height = astronaut.shape[0]
    width = round(grace_hopper.shape[1] * height / grace_hopper.shape[0])
    grace = np.asarray(Image.fromarray(grace_hopper).resize((width, height)))
    Image.fromarray(np.concatenate([astronaut[:, ::-1], grace], axis=1)).save(root / "two.png")
    return root


def test_enroll_identify_people_delete_on_one_gallery(tmp_path, photos):
    data = ("--data", str(tmp_path / "data"))
    _one_line_error(_cli("identify", str(photos / "two.png"), *data), "gallery is empty")

    enrolled = _json("enroll", str(photos / "faces"), *data)
    assert enrolled["counts"] == {
        "enrolled": 1,
        "duplicate": 0,
        "no_face": 0,
        "several_faces": 0,
        "unreadable": 1,
        "bad_name": 0,
    }
    assert enrolled["people"] == ["Eileen Collins"]
    assert (tmp_path / "data" / "gallery" / "gallery.db").is_file()  # --data was honoured

    identified = _json("identify", str(photos / "two.png"), "--top-k", "3", *data)
    # Recognize is open-set: its default threshold is set for 1 person enrolled
    open_set = open_set_threshold("dlib-resnet-v1", 1).value
    assert identified["threshold"] == pytest.approx(open_set)
    assert identified["model_id"] == "dlib-resnet-v1"
    names = sorted(face["name"] for face in identified["faces"])
    assert names == ["Eileen Collins", "unknown"]
    for face in identified["faces"]:
        assert face["known"] == (face["distance"] <= identified["threshold"])
        assert [m["name"] for m in face["matches"]] == ["Eileen Collins"]  # only one person

    listed = _cli("people", *data)
    assert listed.returncode == 0, listed.stderr
    assert "1 person" in listed.stdout
    assert listed.stdout.splitlines()[1].split()[:4] == ["Eileen", "Collins", "1", "face(s)"]

    _one_line_error(_cli("delete", "Nobody", *data), "no person named")
    deleted = _json("delete", "eileen collins", *data)  # names match ignoring case
    assert deleted["deleted"]["name"] == "Eileen Collins" and deleted["deleted"]["faces"] == 1
    assert _json("people", *data)["people"] == []


def test_verify_same_and_different(tmp_path, photos):
    data = ("--data", str(tmp_path / "data"))
    same = _json(
        "verify",
        str(photos / "mirror.png"),
        str(photos / "faces/Eileen_Collins/astronaut.png"),
        *data,
    )
    assert same["same"] and same["distance"] < 0.3
    assert same["margin"] == pytest.approx(0.6 - same["distance"])
    assert same["threshold_source"] == "model default 0.6"
    different = _cli("verify", str(photos / "mirror.png"), str(photos / "grace.png"), *data)
    assert different.returncode == 0, different.stderr
    assert different.stdout.startswith("different people: distance 0.")
    assert "threshold 0.600" in different.stdout


def test_verify_failures_are_one_line(tmp_path, photos):
    data = ("--data", str(tmp_path / "data"))
    _one_line_error(
        _cli(
            "verify",
            str(photos / "faces/Eileen_Collins/notes.jpg"),
            str(photos / "grace.png"),
            *data,
            "--json",
        ),
        "not an image format",
    )


def test_enroll_takes_the_main_face_unless_one_face_only(tmp_path, astronaut, grace_hopper):
    stage = np.full((600, 1600, 3), 200, np.uint8)  # Grace framed at the centre, Eileen aside
    stage[:, 544:1056] = grace_hopper
    stage[:512, :512] = astronaut
    folder = tmp_path / "faces" / "Grace_Hopper"
    folder.mkdir(parents=True)
    Image.fromarray(stage).save(folder / "stage.png")

    strict = _json(
        "enroll", str(tmp_path / "faces"), "--data", str(tmp_path / "a"), "--one-face-only"
    )
    assert strict["counts"]["several_faces"] == 1 and strict["counts"]["enrolled"] == 0
    assert strict["main_face_taken"] == 0

    data = ("--data", str(tmp_path / "b"))
    taken = _cli("enroll", str(tmp_path / "faces"), *data)
    assert taken.returncode == 0, taken.stderr
    lines = taken.stdout.splitlines()
    assert ": 1 images: enrolled 1 (main face taken 1), skipped as duplicate 0," in lines[0]
    assert lines[1] == (
        "  Grace_Hopper/stage.png: main face taken "
        "(2 faces: took the main one (the largest, at the centre))"
    )
    again = _json("enroll", str(tmp_path / "faces"), *data)  # before decoding, a duplicate
    assert again["counts"]["duplicate"] == 1 and again["counts"]["enrolled"] == 0
