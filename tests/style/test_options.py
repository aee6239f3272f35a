"""The options, budget and sizes of a style transfer run import without torch, and name the same
backbones as the weights cards that do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.backbones.vgg import WEIGHTS
from engine.style.options import BACKBONES

ROOT = Path(__file__).resolve().parents[2]


def test_backbones_are_the_vgg_weights_cards() -> None:
    assert tuple(WEIGHTS) == BACKBONES


def test_options_and_results_import_without_torch() -> None:
    code = (
        "import json, sys\n"
        "from engine.style import StepLosses, StyleOptions, StyleResult\n"
        "from engine.style.options import check_budget, output_shape\n"
        "StyleOptions().check()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "torch" not in loaded and "engine.style.transfer" not in loaded
