"""Fixtures the CLI's evaluate and train tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lfw_like import make_lfw_like


@pytest.fixture(scope="module")
def lfw_like(tmp_path_factory, astronaut, grace_hopper) -> Path:
    """A tiny LFW-layout folder of package photos with its pairs file."""
    return make_lfw_like(tmp_path_factory.mktemp("lfw"), astronaut, grace_hopper)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One data folder per test module, so its later tests reuse the embedding cache."""
    return tmp_path_factory.mktemp("data")
