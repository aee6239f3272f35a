"""The photos of an unlabelled collection: a folder, a zip, or uploaded files.

Unlike bulk enrolment (``engine.enrollment``), no ``<person>/`` layout is needed: every image
file anywhere in the folder or zip is a photo. A zip is read in memory, never extracted, and
refused whole when unsafe (``engine.safe_zip``: zip-slip, too many entries, a zip bomb); a
folder is held to the same entry count and per-file size, so a server folder cannot make a job
unbounded either. Hidden and system files are skipped, and so is anything whose extension is
not an image's (``engine.images.IMAGE_SUFFIXES``); both are listed as ignored.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from engine.errors import InvalidImage
from engine.images import IMAGE_SUFFIXES
from engine.safe_zip import (
    ArchiveLimits,
    InvalidArchive,
    ReadBudget,
    checked_entries,
    is_hidden,
    open_zip,
    zip_entry_reader,
)

CollectionSource = str | Path | bytes | bytearray | BinaryIO | Sequence[tuple[str, bytes]]
"""A folder or ``.zip`` path, a zip's bytes or open file, or uploads as (file name, bytes)."""


@dataclass(frozen=True)
class Photo:
    """One image file of the collection, read only when its turn comes."""

    name: str
    """Its path inside the folder or zip, or the uploaded file's name."""
    read: Callable[[], bytes]


@contextmanager
def open_photos(
    source: CollectionSource, limits: ArchiveLimits | None = None
) -> Iterator[tuple[list[Photo], list[str]]]:
    """(photos in name order, ignored files with the reason) of ``source``.

    Raises ``InvalidArchive`` for a missing path, a damaged or unsafe zip, or a folder with
    more image files than ``limits.max_entries``.
    """
    limits = limits or ArchiveLimits()
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes, bytearray)):
        yield _upload_photos(source, limits)
        return
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        yield _folder_photos(Path(source), limits)
        return
    with open_zip(source) as archive:
        yield _zip_photos(archive, limits)


def _skip_reason(parts: tuple[str, ...]) -> str:
    if is_hidden(parts):
        return "hidden or system file"
    if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file (by its extension)"
    return ""


def _too_many(count: int, limits: ArchiveLimits) -> None:
    if count > limits.max_entries:
        raise InvalidArchive(
            f"the collection has {count:,} image files, over the limit of {limits.max_entries:,}"
        )


def _folder_photos(root: Path, limits: ArchiveLimits) -> tuple[list[Photo], list[str]]:
    photos: list[Photo] = []
    ignored: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        name = "/".join(parts).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        skip = _skip_reason(parts)
        if skip:
            ignored.append(f"{name}: {skip}")
            continue
        photos.append(Photo(name, _file_reader(path, limits.max_entry_bytes)))
    _too_many(len(photos), limits)
    return photos, ignored


def _file_reader(path: Path, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise InvalidImage(
                    f"the file is {size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB "
                    "limit for one image"
                )
            return path.read_bytes()
        except OSError as exc:
            raise InvalidImage(f"the file could not be read ({exc.strerror or exc})") from exc

    return read


def _zip_photos(archive: zipfile.ZipFile, limits: ArchiveLimits) -> tuple[list[Photo], list[str]]:
    budget = ReadBudget(limits.max_total_bytes)
    photos: list[Photo] = []
    ignored: list[str] = []
    for info in sorted(checked_entries(archive, limits), key=lambda i: i.filename):
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        skip = _skip_reason(parts)
        if skip:
            ignored.append(f"{info.filename}: {skip}")
            continue
        reader = zip_entry_reader(archive, info, limits.max_entry_bytes, budget)
        photos.append(Photo("/".join(parts), reader))
    return photos, ignored


def _upload_photos(
    uploads: Sequence[tuple[str, bytes]], limits: ArchiveLimits
) -> tuple[list[Photo], list[str]]:
    photos: list[Photo] = []
    ignored: list[str] = []
    for name, data in uploads:
        skip = _skip_reason((name,))
        if skip:
            ignored.append(f"{name}: {skip}")
        else:
            photos.append(Photo(name, _bytes_reader(bytes(data), limits.max_entry_bytes)))
    _too_many(len(photos), limits)
    return photos, ignored


def _bytes_reader(data: bytes, max_bytes: int) -> Callable[[], bytes]:
    def read() -> bytes:
        if len(data) > max_bytes:
            raise InvalidImage(
                f"the file is {len(data) / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB "
                "limit for one image"
            )
        return data

    return read
