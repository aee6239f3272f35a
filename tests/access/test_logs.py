"""Logs never carry names, file names or embeddings."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

import cli


def test_enrol_identify_repair_and_export_log_nothing_personal(
    tmp_path, monkeypatch, caplog, capsys, astronaut
) -> None:
    monkeypatch.setenv("VISIONLAB_DATA", str(tmp_path / "data"))
    folder = tmp_path / "people" / "Secret_Person"
    folder.mkdir(parents=True)
    Image.fromarray(astronaut).save(folder / "private-photo-name.png")
    probe = tmp_path / "probe-file-name.png"
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(probe)

    with caplog.at_level(logging.DEBUG):
        assert cli.main(["enroll", str(tmp_path / "people")]) == 0
        assert cli.main(["identify", str(probe), "--json"]) == 0
        found = capsys.readouterr().out
        # An orphan chip makes the next open repair the store and log it.
        chips = tmp_path / "data" / "gallery" / "chips"
        next(chips.iterdir()).joinpath("0" * 32 + ".png").write_bytes(b"orphan")
        assert cli.main(["people"]) == 0
        assert cli.main(["export", str(tmp_path / "export.zip")]) == 0

    assert "Secret" in found  # the answer names her; the logs must not
    logged = caplog.text
    assert any("repaired" in r.getMessage() for r in caplog.records)
    for secret in ("Secret", "private-photo-name", "probe-file-name"):
        assert secret not in logged
