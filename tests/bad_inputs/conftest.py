"""The bad-input corpus, built once per session, and a tally of what each entry point did with
it (inputs tried, crashes, records lost), printed at the end of the run."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests.bad_inputs.corpus import BadInput, build_corpus

TALLY: dict[str, dict[str, int]] = defaultdict(lambda: {"tried": 0, "crashes": 0, "lost": 0})


def record(entry_point: str, *, crashed: bool = False, lost: bool = False) -> None:
    """Count one input fed to ``entry_point``; a crash is an untyped exception, a traceback or
    a page exception; lost means the gallery checksum changed for an input that was refused."""
    row = TALLY[entry_point]
    row["tried"] += 1
    row["crashes"] += int(crashed)
    row["lost"] += int(lost)


def pytest_terminal_summary(terminalreporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("bad inputs: per entry point")
    terminalreporter.write_line(f"{'entry point':<34} {'tried':>5} {'crashes':>7} {'lost':>5}")
    for name, row in sorted(TALLY.items()):
        terminalreporter.write_line(
            f"{name:<34} {row['tried']:>5} {row['crashes']:>7} {row['lost']:>5}"
        )


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """scikit-image's coffee cup: a photo without a face."""
    from skimage import data

    return np.ascontiguousarray(data.coffee())


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, astronaut, coffee) -> list[BadInput]:
    return build_corpus(tmp_path_factory.mktemp("bad_inputs"), astronaut, coffee)


@pytest.fixture(scope="session")
def images(corpus) -> list[BadInput]:
    return [i for i in corpus if i.kind == "image"]


@pytest.fixture(scope="session")
def zips(corpus) -> list[BadInput]:
    return [i for i in corpus if i.kind == "zip"]


@pytest.fixture(scope="session")
def pairs_files(corpus) -> list[BadInput]:
    return [i for i in corpus if i.kind == "pairs"]


@pytest.fixture(scope="session")
def refused_folder(tmp_path_factory, images) -> Path:
    """``<person>/<images>`` holding every image that must not be enrolled."""
    root = tmp_path_factory.mktemp("refused") / "faces"
    person = root / "Eileen_Collins"
    person.mkdir(parents=True)
    for item in images:
        if item.expect in ("invalid", "no_face", "several"):
            (person / item.path.name).write_bytes(item.data)
    return root
