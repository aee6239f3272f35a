"""The threshold lab's charts on pairs that no threshold gets wrong (log axes cannot show 0)."""

from __future__ import annotations

import numpy as np

from engine.evaluation.scoring import DistanceScorer, PairScores, evaluate
from ui.widgets.lab_charts import det_figure, roc_figure


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
