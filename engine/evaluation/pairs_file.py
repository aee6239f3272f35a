"""LFW-format pairs files: View 1 (``N`` header) and View 2 (``folds N`` header).

A matched line is ``name n1 n2``; a mismatched line is ``name1 n1 name2 n2``. Images live at
``<root>/<name>/<name>_<NNNN>.jpg``.

Error messages name the file, the line and what was expected, never what the line holds: a
pairs file may be any file the reader was pointed at, and its content is not ours to echo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PairsFileError(ValueError):
    """The pairs file is malformed; the message names the line, not its content."""


@dataclass(frozen=True)
class Pair:
    image_a: str
    """Path relative to the image root, e.g. ``Abdullah_Gul/Abdullah_Gul_0013.jpg``."""
    image_b: str
    same: bool
    fold: int
    line: int = 0
    """The line of the pairs file it was read from (1-based; 0 when not read from a file)."""


def lfw_image_path(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


def read_pairs(path: str | Path) -> list[Pair]:
    """All pairs of a View 1 or View 2 file, with their fold (0 for View 1)."""
    name = Path(path).name
    numbered = [
        (number, line.split())
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1)
    ]
    numbered = [(number, fields) for number, fields in numbered if fields]
    if not numbered:
        raise PairsFileError(f"{name}: the file is empty")
    header_line, header = numbered[0]
    try:
        if len(header) == 1:
            folds, per_set = 1, int(header[0])
        elif len(header) == 2:
            folds, per_set = int(header[0]), int(header[1])
        else:
            raise ValueError
    except ValueError as exc:
        raise PairsFileError(
            f"{name}: line {header_line} must be 'N' or 'FOLDS N' (one or two whole numbers)"
        ) from exc
    body = numbered[1:]
    expected = folds * 2 * per_set
    if len(body) != expected:
        raise PairsFileError(f"{name}: header promises {expected} pairs, found {len(body)} lines")
    return [
        _parse_line(fields, index // (2 * per_set), f"{name}:{number}", number)
        for index, (number, fields) in enumerate(body)
    ]


def _parse_line(fields: list[str], fold: int, where: str, line: int) -> Pair:
    names = fields[0::2] if len(fields) == 4 else fields[:1]
    if any(_not_a_folder_name(n) for n in names):
        raise PairsFileError(f"{where}: a person's name must be a folder name, not a path")
    try:
        if len(fields) == 3:
            name, a, b = fields
            return Pair(
                lfw_image_path(name, int(a)), lfw_image_path(name, int(b)), True, fold, line
            )
        if len(fields) == 4:
            name_a, a, name_b, b = fields
            return Pair(
                lfw_image_path(name_a, int(a)), lfw_image_path(name_b, int(b)), False, fold, line
            )
    except ValueError:
        pass
    raise PairsFileError(
        f"{where}: expected 'name n1 n2' or 'name1 n1 name2 n2' (names and whole numbers), "
        f"found {len(fields)} fields"
    )


def _not_a_folder_name(name: str) -> bool:
    """``..``, ``.`` or anything with a separator would read images outside the image root."""
    return name in {".", ".."} or "/" in name or "\\" in name or name.startswith("~")
