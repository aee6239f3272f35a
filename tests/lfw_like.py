"""A tiny LFW-format image root and pairs files, made from photos that packages ship.

Eileen Collins (scikit-image's astronaut) three times — as is, mirrored, and cropped — and
Grace Hopper (matplotlib's) twice — as is and mirrored: enough for genuine and impostor pairs
that any working face pipeline tells apart, in a few seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

MATCHED = [("Eileen", 1, 2), ("Eileen", 1, 3), ("Eileen", 2, 3), ("Grace", 1, 2)]
MISMATCHED = [
    ("Eileen", 1, "Grace", 1),
    ("Eileen", 2, "Grace", 2),
    ("Eileen", 3, "Grace", 1),
    ("Grace", 2, "Eileen", 1),
]


def make_lfw_like(folder: Path, astronaut: np.ndarray, grace_hopper: np.ndarray) -> Path:
    """Write ``folder/<Name>/<Name>_000N.jpg`` and ``folder/pairs.txt`` (View 1 format, 4 matched
    and 4 mismatched pairs); return the pairs file."""
    images = {
        "Eileen/Eileen_0001.jpg": astronaut,
        "Eileen/Eileen_0002.jpg": astronaut[:, ::-1],
        "Eileen/Eileen_0003.jpg": astronaut[16:480, 24:500],
        "Grace/Grace_0001.jpg": grace_hopper,
        "Grace/Grace_0002.jpg": grace_hopper[:, ::-1],
    }
    for relative, pixels in images.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(path, quality=95)
    lines = [str(len(MATCHED))]
    lines += [f"{name}\t{a}\t{b}" for name, a, b in MATCHED]
    lines += [f"{na}\t{a}\t{nb}\t{b}" for na, a, nb, b in MISMATCHED]
    pairs = folder / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    return pairs
