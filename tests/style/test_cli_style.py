"""``cli.py stylize``: Gatys and fast modes on tiny package images, JSON, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli


@pytest.fixture(scope="module")
def images(tmp_path_factory, small_content, small_style) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("style")
    paths = {"content": root / "c.png", "style": root / "s.jpg", "gray": root / "g.png"}
    Image.fromarray(small_content).save(paths["content"])
    Image.fromarray(small_style).save(paths["style"], quality=95)
    Image.fromarray(small_style.mean(axis=2).astype(np.uint8)).save(paths["gray"])
    return paths


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_stylize_json_has_per_step_losses_and_timings(images, tmp_path, capsys) -> None:
    out = tmp_path / "g.png"
    code, stdout, stderr = _run(
        capsys, "stylize", "--content", str(images["content"]), "--style", str(images["style"]),
        "--style", str(images["gray"]), "--blend", "0.7,0.3", "--size", "40", "--steps", "3",
        "--precision", "float32", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    result = json.loads(stdout)  # one JSON document, nothing else on stdout
    assert result["method"] == "gatys" and result["blend"] == [0.7, 0.3]
    assert result["dtype"] == "float32" and result["options"]["precision"] == "float32"
    assert [h["step"] for h in result["history"]] == [1, 2, 3]
    assert all({"total", "content", "style", "seconds"} <= h.keys() for h in result["history"])
    assert Image.open(out).size == (40, 40)


def test_stylize_fast_and_text_output(images, tmp_path, capsys) -> None:
    out = tmp_path / "fast.png"
    code, stdout, stderr = _run(
        capsys, "stylize", "--content", str(images["content"]), "--style", str(images["style"]),
        "--fast", "--strength", "0.5", "--size", "48", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.startswith("fast preview 48×48") and Image.open(out).size == (48, 48)


def test_stylize_errors_are_one_line(images, tmp_path, capsys) -> None:
    common = ["stylize", "--content", str(images["content"]), "--style", str(images["style"])]
    code, _, stderr = _run(capsys, *common, "--blend", "1,2", "--out", str(tmp_path / "a.png"))
    assert code == 1 and stderr.strip() == (
        "error: --blend needs 1 weights of 0 or more (one per --style)"
    )
    code, _, stderr = _run(capsys, *common, "--out", str(tmp_path / "a.jpg"))
    assert code == 1 and "must be a .png" in stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, _, stderr = _run(capsys, "stylize", "--content", str(bad), "--style", str(bad),
                           "--out", str(tmp_path / "b.png"))  # fmt: skip
    assert code == 1 and stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
