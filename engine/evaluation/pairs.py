"""LFW-format pairs files: View 1 (``N`` header) and View 2 (``folds N`` header).

A matched line is ``name n1 n2``; a mismatched line is ``name1 n1 name2 n2``. Images live at
``<root>/<name>/<name>_<NNNN>.jpg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PairsFileError(ValueError):
    """The pairs file is malformed; the message names the line."""


@dataclass(frozen=True)
class Pair:
    image_a: str
    """Path relative to the image root, e.g. ``Abdullah_Gul/Abdullah_Gul_0013.jpg``."""
    image_b: str
    same: bool
    fold: int


def lfw_image_path(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


def read_pairs(path: str | Path) -> list[Pair]:
    """All pairs of a View 1 or View 2 file, with their fold (0 for View 1)."""
    lines = [ln.split() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise PairsFileError(f"{path}: the file is empty")
    header = lines[0]
    try:
        if len(header) == 1:
            folds, per_set = 1, int(header[0])
        elif len(header) == 2:
            folds, per_set = int(header[0]), int(header[1])
        else:
            raise ValueError
    except ValueError as exc:
        raise PairsFileError(f"{path}: line 1 must be 'N' or 'FOLDS N', got {header}") from exc
    body = lines[1:]
    expected = folds * 2 * per_set
    if len(body) != expected:
        raise PairsFileError(f"{path}: header promises {expected} pairs, found {len(body)} lines")
    pairs = []
    for index, fields in enumerate(body):
        fold = index // (2 * per_set)
        pairs.append(_parse_line(fields, fold, f"{path}:{index + 2}"))
    return pairs


def _parse_line(fields: list[str], fold: int, where: str) -> Pair:
    try:
        if len(fields) == 3:
            name, a, b = fields
            return Pair(lfw_image_path(name, int(a)), lfw_image_path(name, int(b)), True, fold)
        if len(fields) == 4:
            name_a, a, name_b, b = fields
            return Pair(lfw_image_path(name_a, int(a)), lfw_image_path(name_b, int(b)), False, fold)
    except ValueError:
        pass
    raise PairsFileError(f"{where}: expected 'name n1 n2' or 'name1 n1 name2 n2', got {fields}")
