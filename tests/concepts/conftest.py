"""The Concepts tests run many tiny torch ops: one intra-op thread avoids thread hand-off costs
that dominate them on a shared 2-core machine (measured 10× on the conv-shape grid)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
