"""``cli.py train``: a projection head trained on a tiny folder of package photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli
from engine.training import BASE_MODEL_ID, load_checkpoint


@pytest.fixture(scope="module")
def people(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """Two people, two images each (as is and mirrored)."""
    root = tmp_path_factory.mktemp("people")
    for name, pixels in (("Eileen", astronaut), ("Grace", grace_hopper)):
        (root / name).mkdir()
        Image.fromarray(pixels).save(root / name / "1.jpg", quality=95)
        Image.fromarray(np.ascontiguousarray(pixels[:, ::-1])).save(root / name / "2.jpg")
    return root


def test_json_checkpoint_and_evaluation(people, lfw_like, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    argv = ["train", "--images", str(people), "--epochs", "3", "--alpha", "0.2"]
    argv += ["--miner", "batch-all", "--p", "2", "--k", "2", "--data", str(data_dir), "--json"]
    argv += ["--eval-pairs", str(lfw_like), "--eval-root", str(lfw_like.parent)]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)  # one JSON document, nothing else on stdout
    assert (result["people"], result["images"], result["skipped"]) == (2, 4, {})
    assert [e["epoch"] for e in result["epochs"]] == [1, 2, 3]
    assert result["model_id"].startswith(f"{BASE_MODEL_ID}+head-")
    assert result["model_id"] != result["base_model_id"] == BASE_MODEL_ID
    path = Path(result["checkpoint"])
    assert path == data_dir / "models" / f"{result['model_id']}.pt" and path.is_file()
    head = load_checkpoint(path)
    assert head.model_id == result["model_id"]
    assert head.metadata["miner"] == "batch-all" and head.metadata["epochs"] == 3
    before, after = result["evaluation"]["eval"]["before"], result["evaluation"]["eval"]["after"]
    assert before["accuracy"] == 1.0 and before["protocol"].startswith("threshold chosen on")
    assert 0.0 <= after["eer"] <= 1.0
    assert "optimistic" in result["evaluation"]["train"]["before"]["protocol"]


def test_text_output(people, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))  # the cache the first test filled
    code = cli.main(["train", "--images", str(people), "--epochs", "2", "--p", "2", "--k", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("epoch ") == 2 and "active" in out
    assert "trained on 4 images of 2 people" in out
    assert "training people's pairs: accuracy threshold chosen on these pairs" in out
    assert f"saved {data_dir / 'models'}" in out


def test_missing_folder_is_one_line(tmp_path, capsys):
    code = cli.main(["train", "--images", str(tmp_path / "nope"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: no image folder at") and err.count("\n") == 1


def test_use_model_switches_the_cli_and_reembeds_the_gallery(people, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    assert (
        cli.main(
            [
                "train",
                "--images",
                str(people),
                "--epochs",
                "1",
                "--p",
                "2",
                "--k",
                "2",
                "--lr",
                "0.05",
                "--json",
            ]
        )
        == 0
    )
    model_id = json.loads(capsys.readouterr().out)["model_id"]
    assert cli.main(["enroll", str(people)]) == 0
    capsys.readouterr()

    assert cli.main(["use-model", model_id, "--json"]) == 0
    switched = json.loads(capsys.readouterr().out)
    assert switched["active"] == model_id
    assert switched["reembedded"]["written"] == 4 and switched["reembedded"]["faces"] == 4

    assert cli.main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["active"] == model_id and model_id in {m["model_id"] for m in listed["models"]}

    assert cli.main(["identify", str(people / "Grace" / "1.jpg"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["model_id"] == model_id
    assert found["faces"][0]["matches"][0]["name"] == "Grace"

    assert cli.main(["use-model", "base"]) == 0
    assert "now using dlib-resnet-v1" in capsys.readouterr().out
    assert cli.main(["use-model", "dlib-resnet-v1+head-deadbeef"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_fine_tuning_the_last_level(people, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    argv = ["train", "--images", str(people), "--fine-tune", "1", "--epochs", "2"]
    assert cli.main([*argv, "--p", "2", "--k", "2", "--lr", "1e-4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"].startswith(f"{BASE_MODEL_ID}+ft1-")
    assert Path(result["checkpoint"]).is_file() and len(result["epochs"]) == 2
    train = result["evaluation"]["train"]
    assert train["before"]["accuracy"] == 1.0 and 0.0 <= train["after"]["eer"] <= 1.0
    assert cli.main(["use-model", result["model_id"]]) == 1
    assert "fine-tuned ResNet" in capsys.readouterr().err


def test_a_head_on_augmented_views(people, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))
    argv = ["train", "--images", str(people), "--augment-views", "3", "--epochs", "1"]
    assert cli.main([*argv, "--p", "2", "--k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    head = load_checkpoint(result["checkpoint"])
    assert head.metadata["augment_views"] == 3 and result["model_id"].startswith(
        f"{BASE_MODEL_ID}+head-"
    )
