"""OpenMP's wait policy for this process, chosen before torch loads.

libgomp's default lets a thread that finished its share spin for the others. On a small machine
shared with other work (several visitors, a browser, another job) those spinning threads take
the cores the working ones need: a style-transfer step took 0.74–2.0 s where ``PASSIVE`` took
0.24–0.34 s (2 cores, issue 16). On an idle machine ``PASSIVE`` costs about 10 %. libgomp reads
the variable once, when torch first loads it, so entry points call this before importing torch.
"""

from __future__ import annotations

import os

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_passive_waiting() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the operator chose a policy already."""
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")
