"""``cli.py layers``, ``index-neurons`` and ``show-neuron`` on a small folder of package photos."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import cli


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_layers_json_lists_fields_in_order(capsys) -> None:
    code, out, _ = _run(capsys, "layers", "--model", "face", "--json")
    assert code == 0
    result = json.loads(out)
    names = [layer["name"] for layer in result["layers"]]
    assert names[:3] == ["conv1", "pool1", "res4a"] and names[-1] == "down0" and len(names) == 16
    assert result["layers"][0] == {
        "name": "conv1",
        "channels": 32,
        "size": 7,
        "stride": 2,
        "start": 0,
    }
    cli.load_command("layers").show(result)  # the plain-text table of the same result
    out = capsys.readouterr().out
    assert "res3c" in out and "offset" in out


def test_index_then_show_neuron(capsys, image_folder, tmp_path) -> None:
    out_dir = tmp_path / "index"
    argv = ["index-neurons", "--model", "face", "--layer", "conv1", "res3c"]
    argv += ["--images", str(image_folder), "--top-k", "4", "--out", str(out_dir), "--json"]
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    result = json.loads(out)  # one JSON document, nothing else on stdout
    assert result["complete"] and result["done"] == result["images"] == 12
    assert result["layers"]["res3c"] == {"channels": 64, "size": 179, "stride": 8, "start": -80}

    png = tmp_path / "neuron.png"
    argv = ["show-neuron", "--index", str(out_dir), "--layer", "res3c", "--channel", "5"]
    code, out, err = _run(capsys, *argv, "--out", str(png), "--json")
    assert code == 0, err
    shown = json.loads(out)
    values = [p["value"] for p in shown["patches"]]
    assert len(values) == 4 and values == sorted(values, reverse=True)
    assert shown["patches"][0]["image"].startswith("group")
    sheet = np.asarray(Image.open(png))
    assert sheet.shape[1] > 4 * 96 and sheet.shape[2] == 3

    code, out, err = _run(
        capsys, "show-neuron", "--index", str(out_dir), "--channel", "0", "--out", str(png)
    )
    assert code == 1 and "choose one with --layer" in err and err.count("\n") == 1


def test_failures_are_one_line(capsys, image_folder, tmp_path) -> None:
    code, _, err = _run(
        capsys,
        "index-neurons",
        "--model",
        "face",
        "--layer",
        "fc7",
        "--images",
        str(image_folder),
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 1 and "no layer 'fc7'" in err and "res3c" in err and err.count("\n") == 1
    code, _, err = _run(
        capsys,
        "index-neurons",
        "--model",
        "face",
        "--layer",
        "conv1",
        "--images",
        str(tmp_path),
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 1 and "no image files" in err
    code, _, err = _run(
        capsys, "show-neuron", "--index", str(tmp_path), "--channel", "0", "--out", "x.png"
    )
    assert code == 1 and "holds no neuron index" in err
