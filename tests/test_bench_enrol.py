"""``bench.enrol`` on an LFW-like folder made from package photos: in this process and with two
worker processes, both runs and the stage split land in the JSON, and both enrol every face."""

from __future__ import annotations

import json

from bench.enrol import STAGES, main
from tests.lfw_like import make_lfw_like


def test_the_bench_reports_both_runs_and_they_enrol_the_same_faces(
    tmp_path, astronaut, grace_hopper
):
    make_lfw_like(tmp_path / "lfw", astronaut, grace_hopper)  # 5 photos, one face each
    out = tmp_path / "enrol.json"

    main(
        [
            *("--lfw", str(tmp_path / "lfw"), "--limit", "4", "--workers", "0", "2"),
            *("--stage-sample", "2", "--json", str(out)),
        ]
    )

    report = json.loads(out.read_text())
    assert report["images"] == 4 and report["people"] == 2  # sorted: Eileen ×3, Grace ×1
    assert report["platform"]["cpus"] >= 1 and len(report["loadavg_start"]) == 3
    runs = {run["workers"]: run for run in report["runs"]}
    assert sorted(runs) == [0, 2] and runs[2]["torch_threads"] == 1
    for run in runs.values():
        assert run["images"] == 4 and run["images_per_s"] > 0 and run["stopped"] is None
        assert run["counts"]["enrolled"] == run["faces_in_gallery"] == 4
        assert sum(run["counts"].values()) == 4
        assert len(run["loadavg_start"]) == len(run["loadavg_end"]) == 3
    assert runs[0]["counts"] == runs[2]["counts"]
    assert report["ratios"]["workers_2_vs_0"] > 0
    assert report["stages"]["images"] == 2
    for per_stage in report["stages"]["ms_per_image"].values():
        assert list(per_stage) == list(STAGES) and per_stage["detect"] > 0
