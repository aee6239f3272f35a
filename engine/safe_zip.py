"""Reading a zip a user uploaded without trusting it.

A zip is read in memory, never extracted. It is refused whole when an entry has an absolute path,
a drive letter or ``..`` (zip-slip: a hostile archive, not a half-usable one), when it has too
many entries, or when it would inflate past a size cap (a zip bomb); the sizes its headers
declare are checked again while each entry is read, since headers can lie. Bulk enrolment
(``engine.enrollment``) and the uploaded data sets (``engine.data_sources``) read zips this way.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.errors import InvalidImage, VisionLabError


class InvalidArchive(VisionLabError):
    """A bulk source is not a folder or readable zip, or the zip is unsafe to read."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that keep a hostile zip from exhausting memory or time (a zip bomb)."""

    max_entries: int = 20_000
    max_total_bytes: int = 2 * 1024**3
    """Sum of the entries' uncompressed sizes, checked on the headers and again while reading."""
    max_entry_bytes: int = 50 * 1024**2
    """One image; larger entries are reported unreadable (the app's upload cap is 50 MB too)."""


def checked_entries(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    """The zip's file entries, once the zip as a whole is safe to read: not too many entries,
    none with an absolute path or ``..`` (zip-slip), and a declared size under the cap. The
    sizes are declared by the zip itself, so ``zip_entry_reader`` checks them again."""
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > limits.max_entries:
        raise InvalidArchive(
            f"the zip has {len(entries)} files, over the limit of {limits.max_entries}"
        )
    for info in archive.infolist():
        if _unsafe_entry_name(info.filename):
            raise InvalidArchive(
                f"the zip is refused: the entry {info.filename!r} points outside the archive"
            )
    declared = sum(info.file_size for info in entries)
    if declared > limits.max_total_bytes:
        raise InvalidArchive(
            f"the zip would unpack to {declared / 1e6:.0f} MB, over the limit of "
            f"{limits.max_total_bytes / 1e6:.0f} MB"
        )
    return entries


@dataclass
class ReadBudget:
    """Bytes still allowed to be inflated from one zip; headers can lie about sizes."""

    remaining: int


def zip_entry_reader(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int, budget: ReadBudget
) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > max_bytes:
            raise InvalidImage(
                f"the file is {info.file_size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB "
                "limit for one image"
            )
        try:
            with archive.open(info) as f:
                data = f.read(info.file_size + 1)
        except RuntimeError as exc:  # zipfile's way of saying "encrypted"
            raise InvalidImage(f"the file could not be read from the zip ({exc})") from exc
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise InvalidImage(f"the file is damaged in the zip ({exc})") from exc
        if len(data) > info.file_size:
            raise InvalidArchive(
                f"the zip is refused: {info.filename!r} inflates past the size its header "
                "declares (a zip bomb?)"
            )
        budget.remaining -= len(data)
        if budget.remaining < 0:
            raise InvalidArchive("the zip is refused: it inflates past the total size limit")
        return data

    return read


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_entry_name(name: str) -> bool:
    """Absolute paths, drive letters and ``..`` anywhere: the classic zip-slip entries."""
    normalized = name.replace("\\", "/")
    return (
        normalized.startswith("/")
        or bool(_DRIVE.match(normalized))
        or ".." in normalized.split("/")
    )


def common_top_folder(names: list[tuple[str, ...]]) -> int:
    """1 when every file sits under one wrapper folder (zipping ``faces/`` gives
    ``faces/<person>/<image>``), so the person is the folder below it; else 0."""
    visible = [parts for parts in names if not is_hidden(parts)]
    if visible and all(len(p) >= 3 for p in visible) and len({p[0] for p in visible}) == 1:
        return 1
    return 0


def is_hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def open_zip(source: str | Path | bytes | bytearray | BinaryIO) -> zipfile.ZipFile:
    """``source`` (a path, bytes or an open file) as a zip, or ``InvalidArchive`` in a sentence."""
    if isinstance(source, (str, Path)):
        if not Path(source).exists():
            raise InvalidArchive(f"no such folder or zip file: {source}")
        opened: Path | BinaryIO = Path(source)
    elif isinstance(source, (bytes, bytearray)):
        opened = io.BytesIO(source)
    else:
        opened = source
    try:
        return zipfile.ZipFile(opened)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidArchive(f"not a folder or a readable zip file ({exc})") from exc
