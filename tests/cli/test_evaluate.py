"""``cli.py evaluate``: the threshold lab's figures from the command line, on a tiny LFW-format
set made from package photos."""

from __future__ import annotations

import csv
import json

import cli
from tests.lfw_like import MATCHED, MISMATCHED


def test_json_and_scores_csv(lfw_like, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))  # restored after --data overrides it
    out = tmp_path / "scores.csv"
    argv = ["evaluate", "--pairs", str(lfw_like), "--root", str(lfw_like.parent)]
    code = cli.main([*argv, "--scores-csv", str(out), "--json", "--data", str(data_dir)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["scorer"] == "distance" and not report["higher_is_same"]
    assert (report["genuine_pairs"], report["impostor_pairs"]) == (4, 4)
    assert report["image_outcomes"] == {"face found": 5}
    # Photos of one person against another: perfectly separated.
    assert report["accuracy"] == 1.0 and report["roc_auc"] == 1.0 and report["eer"] == 0.0
    assert "optimistic" in report["protocol"]
    far = {row["target_far"]: row for row in report["tar_at_far"]}
    assert not far[0.1]["measurable"] and far[0.1]["impostor_pairs"] == 4
    rows = list(csv.DictReader(out.open()))
    assert [(r["name_a"], r["name_b"], r["label"]) for r in rows[:1]] == [
        ("Eileen/Eileen_0001.jpg", "Eileen/Eileen_0002.jpg", "1")
    ]
    assert len(rows) == len(MATCHED) + len(MISMATCHED)
    genuine = [float(r["score"]) for r in rows if r["label"] == "1"]
    impostor = [float(r["score"]) for r in rows if r["label"] == "0"]
    assert max(genuine) < 0.6 < min(impostor)


def test_text_output_of_a_trained_head(lfw_like, data_dir, capsys, monkeypatch):
    monkeypatch.setenv("VISIONLAB_DATA", str(data_dir))  # the cache the first test filled
    argv = ["evaluate", "--pairs", str(lfw_like), "--root", str(lfw_like.parent)]
    code = cli.main([*argv, "--scorer", "chi2", "--train-pairs", str(lfw_like)])
    out = capsys.readouterr().out
    assert code == 0
    assert "scorer: chi2 head, trained on pairs.txt" in out
    assert "threshold chosen on pairs.txt" in out
    assert "TAR @ FAR 1e-01  not measurable: needs 10 impostor pairs, 4 here" in out
    code = cli.main([*argv, "--scorer", "absdiff", "--train-pairs", str(lfw_like), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["scorer"] == "absdiff head" and report["higher_is_same"]
    assert 0 < report["threshold"] < 1  # a probability
    assert report["accuracy"] == 1.0


def test_a_head_without_training_pairs_is_refused_in_one_line(lfw_like, capsys):
    argv = ["evaluate", "--pairs", str(lfw_like), "--root", str(lfw_like.parent)]
    assert cli.main([*argv, "--scorer", "absdiff"]) == 1
    err = capsys.readouterr().err
    assert err == "error: --scorer absdiff needs --train-pairs to train the head on\n"
    assert cli.main(["evaluate", "--pairs", str(lfw_like), "--root", "/no/such/dir"]) == 1
    assert capsys.readouterr().err.startswith("error: no image folder at /no/such/dir")
