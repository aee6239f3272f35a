"""How fast a job goes and how long it has left, in words for a progress bar.

Every job that runs longer than a few seconds (bulk enrolment, embedding a pairs set, training,
indexing, style transfer) shows the same text, so a user reads one format everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def duration_text(seconds: float) -> str:
    """``"45 s"``, ``"1 min 05 s"`` or ``"2 h 03 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def pace_text(done: int, total: int, elapsed: float, unit: str = "images") -> str:
    """The pace so far and the time left at that pace, e.g. "12.5 images/s · about 1 min 20 s
    left"; "starting" before the first item is done, "done" after the last."""
    if done >= total > 0:
        return f"done in {duration_text(elapsed)}"
    if done <= 0 or elapsed <= 0:
        return "starting"
    rate = done / elapsed
    if rate >= 1:
        speed = f"{rate:.1f} {unit}/s"
    else:
        speed = f"{elapsed / done:.1f} s per {unit.rstrip('s')}"
    return f"{speed} · about {duration_text((total - done) / rate)} left"


def resumed_pace(unit: str = "images") -> Callable[[int, int], str]:
    """``pace_text`` for a job that resumes from a cache: its first report (the items already
    cached, done at once) starts the clock and is left out of the rate, so the time left is
    not the few seconds that 9,000 cached images would suggest."""
    first: list[tuple[int, float]] = []

    def text(done: int, total: int) -> str:
        now = time.monotonic()
        if not first:
            first.append((done, now))
        base, started = first[0]
        if done >= total:
            return pace_text(done, total, now - started, unit=unit)
        return pace_text(done - base, total - base, now - started, unit=unit)

    return text
