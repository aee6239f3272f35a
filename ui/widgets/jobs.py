"""A heavy run's place in the server's job queue, shown on the page while it waits.

``engine.jobs`` lets ``Settings.max_jobs`` heavy jobs run at once per server; a page wraps its
heavy call in :func:`heavy_job` so a user whose job waits sees how many are ahead of it, and
can give up the wait with the page's own Stop button (``should_stop``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from engine.jobs import job_slot, shared_limiter
from ui.widgets.resources import settings


def queue_caption() -> str:
    """The bound, for beside a heavy job's button."""
    slots = shared_limiter(settings().max_jobs).slots
    return (
        f"At most {slots} heavy job{'s' if slots != 1 else ''} run at once on this server; "
        "more wait in line."
    )


@contextmanager
def heavy_job(name: str, should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """Run the ``with`` block once a job slot is free, showing "k jobs ahead" meanwhile.

    Raises ``engine.jobs.JobCancelled`` (a ``VisionLabError``) when ``should_stop()`` turns
    true while waiting; a click that reruns the page also gives up the place.
    """
    notice = st.empty()

    def waiting(ahead: int) -> bool:
        if ahead:
            where = f"{ahead} job{'s' if ahead != 1 else ''} ahead of yours"
        else:
            where = "yours is next, waiting for a running job to finish"
        notice.info(f"Waiting for a free slot for the {name}: {where}.")
        return bool(should_stop and should_stop())

    try:
        with job_slot(name, settings().max_jobs, on_wait=waiting):
            notice.empty()
            yield
    finally:
        notice.empty()
