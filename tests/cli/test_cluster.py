"""``cli.py cluster``: one JSON document with --json, the clustering written by --out, matched
clusters enrolled by --enrol (duplicates counted, not stored), and a bad SOURCE as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli import main
from store import Gallery
from tests.pages.face_app import two_faces

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """Eileen Collins in three photos (one with Grace beside her), Grace in two."""
    folder = tmp_path_factory.mktemp("collection")
    (folder / "trip").mkdir()
    Image.fromarray(astronaut).save(folder / "astronaut.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(folder / "trip" / "mirror.png")
    Image.fromarray(grace_hopper).save(folder / "grace.png")
    Image.fromarray(two_faces(astronaut, grace_hopper)).save(folder / "trip" / "two.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_and_out_give_the_clusters(photos, tmp_path, capsys) -> None:
    out = tmp_path / "clusters.json"
    code, stdout, stderr = _run(
        capsys, "cluster", str(photos), "--data", str(tmp_path / "data"), "--json",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["photos"] == 4 and document["faces"] == 5
    assert document["ignored"] == 1 and document["no_face"] == [] and document["enrolled"] == []
    assert document["options"]["threshold"] == 0.5 and document["options"]["min_size"] == 2
    assert document["threshold_source"] == "threshold 0.5 for 5 faces"
    assert [c["size"] for c in document["clusters"]] == [3, 2]
    eileen, grace = document["clusters"]
    assert {f.split("#")[0] for f in eileen["faces"]} == {
        "astronaut.png", "trip/mirror.png", "trip/two.png",
    }  # fmt: skip
    assert {f.split("#")[0] for f in grace["faces"]} == {"grace.png", "trip/two.png"}
    assert set(eileen) == {"label", "size", "spread", "faces", "person"}
    assert eileen["person"] is None and 0 <= eileen["spread"] < 0.5  # nobody enrolled yet
    assert document["singletons"] == []
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == {k: document[k] for k in ("options", "faces", "clusters", "singletons")}


def test_text_table_and_threshold_option(photos, tmp_path, capsys) -> None:
    code, stdout, stderr = _run(
        capsys, "cluster", str(photos), "--data", str(tmp_path / "data"), "--threshold", "0.01",
    )  # fmt: skip
    assert code == 0, stderr
    assert "threshold 0.01, given with --threshold" in stdout.splitlines()[0]
    lines = stdout.splitlines()
    assert lines[1].split() == ["cluster", "size", "spread", "matches"]
    assert lines[2].split()[1:] == ["2", "0.000", "-"]  # the same pixels: the astronaut twice
    assert lines[3].split() == ["astronaut.png#0,", "trip/two.png#1"]
    assert lines[4] == "singletons: 3"

    code, stdout, _ = _run(capsys, "cluster", str(photos), "--data", str(tmp_path / "data"),
                           "--min-size", "4")  # fmt: skip
    assert code == 0 and "no cluster of 4 or more faces" in stdout


def test_enrol_adds_matched_clusters_to_their_person(photos, tmp_path, capsys) -> None:
    data = tmp_path / "data"
    people = tmp_path / "people" / "Eileen_Collins"
    people.mkdir(parents=True)
    (people / "astronaut.png").write_bytes((photos / "astronaut.png").read_bytes())
    assert _run(capsys, "enroll", str(people.parent), "--data", str(data))[0] == 0

    code, stdout, stderr = _run(capsys, "cluster", str(photos), "--data", str(data), "--enrol",
                                "--json")  # fmt: skip
    assert code == 0, stderr
    document = json.loads(stdout)
    eileen = document["clusters"][0]
    assert eileen["person"]["name"] == "Eileen Collins"
    assert document["clusters"][1]["person"] is None  # Grace: nobody to enrol her into
    [enrolled] = document["enrolled"]
    assert enrolled["label"] == eileen["label"] and enrolled["person"] == "Eileen Collins"
    assert (enrolled["enrolled"], enrolled["duplicates"]) == (2, 1)  # astronaut.png was in
    with Gallery(data / "gallery") as gallery:
        assert {p.name: p.face_count for p in gallery.people()} == {"Eileen Collins": 3}

    code, stdout, _ = _run(capsys, "cluster", "gallery", "--data", str(data), "--json")
    assert code == 0
    document = json.loads(stdout)
    assert document["faces"] == 3 and [c["size"] for c in document["clusters"]] == [3]


def test_a_bad_source_is_one_line_and_a_non_zero_exit(tmp_path, capsys) -> None:
    result = subprocess.run(
        [sys.executable, "cli.py", "cluster", str(tmp_path / "missing"), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: no such folder or zip file: {tmp_path / 'missing'}"
    ]

    not_a_zip = tmp_path / "photos.zip"
    not_a_zip.write_text("shopping list")
    code, stdout, stderr = _run(capsys, "cluster", str(not_a_zip), "--data", str(tmp_path / "d"))
    assert code == 1 and stdout == ""
    [line] = stderr.strip().splitlines()
    assert line.startswith("error: not a folder or a readable zip file")

    code, _, stderr = _run(
        capsys, "cluster", str(tmp_path), "--out", str(tmp_path / "no" / "c.json")
    )
    assert code == 1 and len(stderr.strip().splitlines()) == 1
