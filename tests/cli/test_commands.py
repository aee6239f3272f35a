"""The CLI's contract: --json prints one JSON document; failures are one line, exit non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_faces_json_lists_the_face(tmp_path, astronaut):
    image = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(image)
    result = _cli("faces", str(image), "--embed", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model_id"] == "dlib-resnet-v1"
    [face] = document["faces"]
    assert len(face["embedding"]) == 128 and len(face["landmarks"]) == 5


def test_failures_are_one_line_without_traceback(tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("shopping list")
    for args in (("faces", str(not_an_image)), ("faces", str(tmp_path / "missing.jpg"))):
        result = _cli(*args, "--json")
        assert result.returncode != 0
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("error: ")
