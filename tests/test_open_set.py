"""Recognize's open-set threshold: FPIR ≈ 1 − (1 − F)^K solved for the threshold, the saved
open-set point winning over it, and the CLI's identify saying which it used."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist

import pytest
from PIL import Image

from engine.config import Settings
from engine.errors import ModelMismatch
from engine.evaluation import operating_point
from engine.evaluation.operating_point import (
    OPEN_SET_POINT_FILE,
    open_set_point,
    read_open_set_point,
    save_open_set_point,
)
from engine.open_set import (
    IMPOSTOR_QUANTILE_LEVELS,
    IMPOSTOR_QUANTILES,
    fpir_at,
    open_set_threshold,
    per_pair_far,
    recognize_threshold,
)
from engine.permissions import OPERATOR

ROOT = Path(__file__).resolve().parents[1]
MODEL = "dlib-resnet-v1"
LEVELS = (1e-4, 1e-3, 1e-2, 1e-1)
QUANTILES = (0.30, 0.40, 0.50, 0.60)  # impostor distance at each F in LEVELS


def test_per_pair_far_is_the_hand_solved_inverse():
    assert per_pair_far(0.01, 1) == pytest.approx(0.01)
    assert per_pair_far(0.01, 2) == pytest.approx(1 - math.sqrt(0.99))  # 0.0050126
    assert per_pair_far(0.01, 40) == pytest.approx(1 - 0.99 ** (1 / 40))  # 2.5125e-4
    assert fpir_at(per_pair_far(0.01, 4000), 4000) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        per_pair_far(0.0, 40)


def test_threshold_on_a_constructed_table_is_hand_computed():
    one = open_set_threshold(MODEL, 1, 0.01, quantiles=QUANTILES, levels=LEVELS)
    assert one.value == pytest.approx(0.50)  # K = 1: F = 1 %, the table's own point
    # K = 10: F = 1 − 0.99^0.1 = 1.00453e-3, 0.40 + 0.1 · log10(1.00453) = 0.400196
    ten = open_set_threshold(MODEL, 10, 0.01, quantiles=QUANTILES, levels=LEVELS)
    assert ten.value == pytest.approx(0.4001963, abs=1e-6)
    assert ten.source == "threshold 0.40: at most 1 % of strangers named, with 10 people enrolled"
    # Below the table (F = 1e-5 < 1e-4) the first segment is extended: 0.30 − 0.10.
    far_below = open_set_threshold(MODEL, 1, 1e-5, quantiles=QUANTILES, levels=LEVELS)
    assert far_below.value == pytest.approx(0.20)


def test_fpir_target_is_met_on_a_known_impostor_distribution():
    """Impostor distances ~ N(1.0, 0.1): F(t) is exact, so FPIR at the chosen threshold is too."""
    impostors = NormalDist(1.0, 0.1)
    quantiles = tuple(impostors.inv_cdf(q) for q in IMPOSTOR_QUANTILE_LEVELS)
    for k in (1, 40, 400, 4000):
        t = open_set_threshold(MODEL, k, 0.01, quantiles=quantiles).value
        achieved = fpir_at(impostors.cdf(t), k)
        assert 0.009 <= achieved <= 0.0101, (k, t, achieved)
        # and it is the largest such threshold: 0.01 higher names too many strangers
        assert fpir_at(impostors.cdf(t + 0.01), k) > 0.01


def test_the_threshold_falls_as_the_gallery_grows():
    assert MODEL in IMPOSTOR_QUANTILES  # measured on LFW by bench/open_set.py
    values = [open_set_threshold(MODEL, k).value for k in (1, 40, 400, 4000)]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4
    assert values[1] < 0.6  # with 40 people the 1:1 threshold names too many strangers
    stricter = open_set_threshold(MODEL, 40, 0.001).value
    assert stricter < values[1]


def test_the_shipped_table_is_monotone():
    for quantiles in IMPOSTOR_QUANTILES.values():
        assert len(quantiles) == len(IMPOSTOR_QUANTILE_LEVELS)
        assert all(a < b for a, b in itertools.pairwise(quantiles))


def _settings(tmp_path: Path) -> Settings:
    settings = Settings.from_env()
    return type(settings)(**{**settings.__dict__, "data_dir": tmp_path})


def test_recognize_uses_the_open_set_threshold_without_a_saved_point(tmp_path):
    threshold = recognize_threshold(_settings(tmp_path), MODEL, 40)
    assert threshold == open_set_threshold(MODEL, 40)
    assert threshold.source.endswith("at most 1 % of strangers named, with 40 people enrolled")


def test_a_saved_open_set_point_wins(tmp_path):
    point = open_set_point(
        0.47, model_id=MODEL, gallery_size=40, target_fpir=0.01, dir=0.9, fpir=0.008,
        dataset="enrolled gallery",
    )  # fmt: skip
    save_open_set_point(tmp_path, point, actor=OPERATOR)
    assert read_open_set_point(tmp_path) == point
    saved = recognize_threshold(_settings(tmp_path), MODEL, 40)
    assert saved.value == 0.47
    assert "saved open-set point" in saved.source and "40 people" in saved.source
    grown = recognize_threshold(_settings(tmp_path), MODEL, 400)
    assert grown.value == 0.47 and "400 now" in grown.source  # says the gallery has grown
    other = open_set_point(
        0.1, model_id="another-model", gallery_size=40, target_fpir=0.01, dir=0.9, fpir=0.01,
        dataset="",
    )  # fmt: skip
    save_open_set_point(tmp_path, other, actor=OPERATOR)
    assert recognize_threshold(_settings(tmp_path), MODEL, 40) == open_set_threshold(MODEL, 40)


def test_a_damaged_open_set_point_is_ignored_and_said(tmp_path):
    (tmp_path / OPEN_SET_POINT_FILE).write_text("{not json")
    threshold = recognize_threshold(_settings(tmp_path), MODEL, 40)
    assert threshold.value == open_set_threshold(MODEL, 40).value
    assert f"{OPEN_SET_POINT_FILE} unreadable" in threshold.source


def test_the_1_to_1_operating_point_does_not_move_recognize(tmp_path):
    point = operating_point.OperatingPoint(
        model_id=MODEL, threshold=0.7, dataset="pairs", date="2026-01-01", far=0.01, frr=0.02,
        method="by hand",
    )  # fmt: skip
    operating_point.save_operating_point(tmp_path, point, actor=OPERATOR)
    assert recognize_threshold(_settings(tmp_path), MODEL, 40) == open_set_threshold(MODEL, 40)


def test_a_model_without_an_impostor_table_falls_back_to_1_to_1_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delitem(IMPOSTOR_QUANTILES, MODEL)
    with pytest.raises(ModelMismatch):
        open_set_threshold(MODEL, 40)
    threshold = recognize_threshold(_settings(tmp_path), MODEL, 40)
    assert threshold.value == 0.6
    assert threshold.source.startswith("model default 0.6; a 1:1 threshold")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def test_cli_identify_reports_the_open_set_threshold_and_its_source(
    tmp_path, astronaut, grace_hopper
):
    faces = tmp_path / "faces" / "Eileen_Collins"
    faces.mkdir(parents=True)
    Image.fromarray(astronaut).save(faces / "astronaut.png")
    probe = tmp_path / "grace.png"
    Image.fromarray(grace_hopper).save(probe)
    data = ("--data", str(tmp_path / "data"))
    enrolled = _cli("enroll", str(tmp_path / "faces"), *data, "--json")
    assert enrolled.returncode == 0, enrolled.stderr

    result = _cli("identify", str(probe), *data, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    expected = open_set_threshold(MODEL, 1)
    assert document["threshold"] == pytest.approx(expected.value)
    assert document["threshold_source"] == expected.source
    assert "with 1 person enrolled" in document["threshold_source"]

    strict = json.loads(_cli("identify", str(probe), *data, "--fpir", "0.001", "--json").stdout)
    assert strict["threshold"] < document["threshold"]
    given = json.loads(_cli("identify", str(probe), *data, "--threshold", "0.7", "--json").stdout)
    assert given["threshold"] == 0.7 and given["threshold_source"] == "given with --threshold"
    bad = _cli("identify", str(probe), *data, "--fpir", "2")
    assert bad.returncode != 0 and "between 0 and 1" in bad.stderr
