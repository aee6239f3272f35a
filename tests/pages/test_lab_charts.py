"""The threshold lab's charts: on pairs that no threshold gets wrong (log axes cannot show 0),
and the open-set curve with the point chosen for Recognize."""

from __future__ import annotations

import numpy as np

from engine.evaluation.metrics import dir_at_fpir, open_set_curve
from engine.evaluation.scoring import DistanceScorer, PairScores, evaluate
from ui.widgets.lab_charts import det_figure, open_set_figure, roc_figure


def test_perfectly_separated_pairs_give_readable_charts() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 8)).astype(np.float32)
    b = a.copy()
    b[20:] += 5.0  # the last 20 pairs are far apart: impostors; the first 20 identical
    same = np.arange(40) < 20
    report = evaluate(PairScores.of(DistanceScorer(), a, b, same))
    assert report.eer == 0
    roc = roc_figure({"distance": report})
    assert tuple(roc.layout.yaxis.range) == (0, 1.02)
    det = det_figure(report)
    assert "nothing to draw" in det.layout.annotations[0].text
    assert tuple(det.layout.xaxis.range) == (-4, 0) and det.layout.xaxis.type == "log"


def test_the_open_set_figure_marks_the_point_about_to_be_saved() -> None:
    mated = np.array([[0.1, 0.9], [0.2, 0.9], [0.9, 0.3], [0.9, 0.4]])
    curve = open_set_curve(mated, np.array([0, 0, 1, 1]), np.array([0.25, 0.35] + [0.8] * 8))
    chosen = dir_at_fpir(curve, 0.1)
    figure = open_set_figure(curve, chosen)
    _curve, marker = figure.data
    assert (marker.x, marker.y) == ((0.1,), (0.75,))
    assert marker.name == "threshold 0.300 (FPIR ≤ 1e-01)"
    assert len(open_set_figure(curve).data) == 1  # nothing chosen: the curve alone
    # A point with FPIR 0 cannot sit on a log axis: the curve is drawn without it.
    assert len(open_set_figure(curve, dir_at_fpir(curve, 0.01)).data) == 1
