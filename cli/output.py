"""What commands write besides their text: the ``--json`` document on stdout, and progress
counters on a terminal's stderr."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any, TextIO


def write_json(result: Any, stream: TextIO | None = None) -> None:
    """Write ``result`` to ``stream`` (default: stdout) as one strict JSON document and a newline.

    JSON has no NaN or infinity (RFC 8259); Python's ``json`` would write the bare words ``NaN``
    and ``Infinity``, which strict readers (``jq``, JavaScript's ``JSON.parse``) refuse. So a
    non-finite number — a figure with nothing to measure it on — is written as ``null``, as
    JavaScript's ``JSON.stringify`` writes it: no number. Every ``--json`` goes through here.
    """
    stream = sys.stdout if stream is None else stream
    json.dump(_finite(result), stream, allow_nan=False)
    stream.write("\n")
    stream.flush()


def _finite(value: Any) -> Any:
    """``value`` with every NaN and ±infinity, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def embedding_progress(label: str) -> Callable[[int, int], None] | None:
    """A one-line counter on a terminal's stderr (nothing when stderr is a file)."""
    return terminal_counter(f"embedding {label} images")


def terminal_counter(what: str) -> Callable[[int, int], None] | None:
    """``what: done/total`` rewritten in place on a terminal's stderr; None when stderr is a
    file (a log would fill with counters)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r{what}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show
