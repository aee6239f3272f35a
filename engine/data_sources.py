"""Where the app's images come from: an upload, or a server folder the operator allowed.

Everyone may **upload** a zip laid out ``<person>/<images>`` (optionally with an LFW-format pairs
file in its root) or a handful of photos. An upload is unpacked into a temporary folder of its
own under the system's temporary directory — never under the data folder — within caps on
files, bytes and images (``UploadLimits``), and that folder is removed:

* by ``UploadedDataset.close()`` or on leaving its ``with`` block (a job that needs the files
  only while it runs: bulk enrolment, training);
* when the object is garbage-collected (``weakref.finalize``): the app keeps it in the
  Streamlit session, so it goes when the session is dropped, and at interpreter exit;
* by ``sweep_stale_uploads``, run before every new upload, for folders of ours untouched for
  ``STALE_AFTER_SECONDS`` (a process that was killed never ran its finalizers). Streamlit has
  no reliable session-end hook, so this sweep is what bounds the worst case.

A **server folder** is an operator's tool: only an actor who may ``READ_SERVER_FOLDER`` (admins;
local mode is an admin) may name one, and only under the roots listed in
``VISIONLAB_SERVER_ROOTS``, checked after resolving ``..`` and symbolic links. Every refusal
reads the same, "not an allowed folder", so the answer never tells whether a path exists. The
CLI (the operator) takes any path and does not come through here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import time
import weakref
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from engine.config import Settings
from engine.errors import InvalidImage, VisionLabError
from engine.images import IMAGE_SUFFIXES
from engine.permissions import Action, Actor
from engine.safe_zip import (
    ArchiveLimits,
    InvalidArchive,
    ReadBudget,
    checked_entries,
    is_hidden,
    zip_entry_reader,
)

UPLOAD_PREFIX = "visionlab-upload-"
"""Temporary folders of ours start with this (the sweep removes nothing else)."""
STALE_AFTER_SECONDS = 6 * 3600
"""An upload folder nobody used for this long is swept (the app touches it on every use)."""


class NotAnAllowedFolder(VisionLabError):
    """The folder is outside the allowed roots, missing, not a folder, or no roots are set:
    deliberately one message for all of them."""


class UploadRefused(VisionLabError):
    """The upload is over a cap or is not a zip or photos; the message says which."""


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one upload, stated beside the uploader (the zip's own headers are checked first,
    then every byte actually unpacked: headers can lie)."""

    max_files: int = 5_000
    max_bytes: int = 500_000_000
    """Unpacked, all files together."""
    max_images: int = 3_000
    max_file_bytes: int = 50_000_000
    """One file; larger ones are left out and listed (the app's upload cap is 50 MB too)."""

    def describe(self) -> str:
        return (
            f"at most {self.max_images:,} images, {self.max_files:,} files and "
            f"{self.max_bytes / 1e6:,.0f} MB unpacked ({self.max_file_bytes / 1e6:,.0f} MB a file)"
        )


UPLOAD_LIMITS = UploadLimits()


@dataclass(frozen=True)
class Dataset:
    """Images to work on, uploaded or in an allowed server folder."""

    root: Path
    """The files, laid out ``<person>/<images>`` (or loose photos)."""
    name: str
    """What the user picked, for titles and saved metadata: the zip's or the folder's name."""
    identity: str
    """Changes when the data does: the upload's SHA-256, or the resolved folder path."""
    uploaded: bool
    cache_dir: Path | None
    """Where embeddings of these images may be cached: inside the upload's own temporary
    folder for an upload (so nothing of it outlives it), the data folder's cache otherwise."""
    pairs_file: Path | None = None
    """An LFW-format pairs file in ``root`` to evaluate, when one was chosen."""

    def text_files(self) -> list[Path]:
        """``.txt`` files in the root, the candidates for a pairs file (``pairs*`` first)."""
        found = [p for p in self.root.glob("*.txt") if p.is_file() and not p.name.startswith(".")]
        return sorted(found, key=lambda p: (not p.name.lower().startswith("pairs"), p.name))

    def with_pairs_file(self, name: str | None) -> Dataset:
        """This dataset with the pairs file ``name`` (one of ``text_files``) chosen, or none."""
        if name is None:
            return replace(self, pairs_file=None)
        chosen = next((p for p in self.text_files() if p.name == name), None)
        if chosen is None:
            raise UploadRefused(f"{name} is not a text file in the root of {self.name}")
        return replace(self, pairs_file=chosen)


# --- server folders ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerRoots:
    """The folders an operator allowed the app to read (``VISIONLAB_SERVER_ROOTS``), resolved."""

    roots: tuple[Path, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerRoots:
        return cls(tuple(Path(os.path.realpath(root)) for root in settings.server_roots))

    def __bool__(self) -> bool:
        return bool(self.roots)

    def contain(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)


def not_allowed_message(roots: ServerRoots) -> str:
    if not roots:
        return "not an allowed folder: this server allows no folders, upload the images instead"
    listed = ", ".join(str(r) for r in roots.roots)
    return f"not an allowed folder: choose a folder under {listed}, or upload the images"


def resolve_server_folder(text: str, roots: ServerRoots, actor: Actor) -> Path:
    """The real folder ``text`` names, when ``actor`` may read server folders and it lies under
    one of ``roots`` once ``..`` and symbolic links are resolved; else ``NotAnAllowedFolder``
    with the same message whether or not the path exists (``PermissionDenied`` for a user).

    A relative ``text`` is read against each root in turn."""
    actor.require(Action.READ_SERVER_FOLDER)
    text = text.strip()
    if text and roots:
        for root in roots.roots:
            try:
                real = Path(os.path.realpath(root / text))
            except (ValueError, OSError):  # a NUL byte, a loop of links
                break
            if roots.contain(real) and real.is_dir():
                return real
    raise NotAnAllowedFolder(not_allowed_message(roots))


def server_dataset(text: str, roots: ServerRoots, actor: Actor, cache_dir: Path | None) -> Dataset:
    """An allowed server folder as a dataset (see ``resolve_server_folder``)."""
    folder = resolve_server_folder(text, roots, actor)
    return Dataset(folder, folder.name or str(folder), str(folder), False, cache_dir)


# --- uploads ------------------------------------------------------------------------------------
class UploadedDataset:
    """An upload unpacked into a temporary folder of its own; see the module docstring for
    when that folder is removed. ``dataset`` is what the pages work on."""

    def __init__(self, name: str, identity: str) -> None:
        sweep_stale_uploads()
        self.folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        self.files = self.folder / "files"
        self.files.mkdir()
        self.dataset = Dataset(
            self.files, name, identity, uploaded=True, cache_dir=self.folder / "cache"
        )
        self.images = 0
        self.left_out: list[str] = []
        """Files of the upload not unpacked, each with why (named as in the upload)."""

    # -- making one --
    @classmethod
    def from_files(
        cls, files: Sequence[tuple[str, bytes]], limits: UploadLimits = UPLOAD_LIMITS
    ) -> UploadedDataset:
        """One zip, or photos (any number, no zip among them)."""
        zips = [f for f in files if f[0].lower().endswith(".zip")]
        if zips and len(files) > 1:
            raise UploadRefused("upload one zip, or photos, not both at once")
        if zips:
            return cls.from_zip(*zips[0], limits=limits)
        return cls.from_photos(files, limits=limits)

    @classmethod
    def from_zip(
        cls, name: str, data: bytes, limits: UploadLimits = UPLOAD_LIMITS
    ) -> UploadedDataset:
        """Unpack a zip, refused whole when unsafe (zip-slip, zip bomb: see
        ``engine.enrollment.checked_entries``) or over ``limits``; a single wrapper folder
        (``faces/<person>/<image>``) is dropped, hidden and system files are left out."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise UploadRefused(f"{Path(name).name} is not a readable zip file") from exc
        with archive:
            caps = ArchiveLimits(limits.max_files, limits.max_bytes, limits.max_file_bytes)
            entries = checked_entries(archive, caps)
            parts = [PurePosixPath(i.filename.replace("\\", "/")).parts for i in entries]
            images = sum(
                1
                for p in parts
                if not is_hidden(p) and PurePosixPath(p[-1]).suffix.lower() in IMAGE_SUFFIXES
            )
            _check_images(images, limits)
            upload = cls(Path(name).stem or "upload", _sha256(data))
            try:
                prefix = _wrapper_depth(parts)
                budget = ReadBudget(limits.max_bytes)
                for info, entry in zip(entries, parts, strict=True):
                    if not is_hidden(entry):
                        upload._write(entry[prefix:], info.filename, archive, info, budget, caps)
            except BaseException:
                upload.close()
                raise
            upload.images = images
            return upload

    @classmethod
    def from_photos(
        cls, photos: Sequence[tuple[str, bytes]], limits: UploadLimits = UPLOAD_LIMITS
    ) -> UploadedDataset:
        """Loose photos, each saved under its own name (numbered, so two ``IMG_0001.jpg``
        from different cameras both stay)."""
        if len(photos) > limits.max_files:
            raise UploadRefused(f"{len(photos):,} files, over the limit of {limits.max_files:,}")
        _check_images(len(photos), limits)
        total = sum(len(data) for _, data in photos)
        if total > limits.max_bytes:
            raise UploadRefused(
                f"the photos come to {total / 1e6:,.0f} MB, over the limit of "
                f"{limits.max_bytes / 1e6:,.0f} MB"
            )
        digest = hashlib.sha256()
        for name, data in photos:
            digest.update(name.encode("utf-8", "replace") + hashlib.sha256(data).digest())
        upload = cls("uploaded photos", digest.hexdigest())
        for number, (name, data) in enumerate(photos):
            safe = Path(name.replace("\\", "/")).name.lstrip(".") or "photo"
            (upload.files / f"{number:04d}_{safe}").write_bytes(data)
        upload.images = len(photos)
        return upload

    def _write(
        self,
        parts: tuple[str, ...],
        shown: str,
        archive: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        budget: ReadBudget,
        caps: ArchiveLimits,
    ) -> None:
        target = self.files.joinpath(*parts)
        # Zip-slip was refused above; this is the belt to those braces.
        if not parts or not target.resolve().is_relative_to(self.files.resolve()):
            raise InvalidArchive(f"the zip is refused: the entry {shown!r} points outside it")
        try:
            data = zip_entry_reader(archive, info, caps.max_entry_bytes, budget)()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except InvalidImage as exc:  # too large, encrypted or damaged: this file only
            self.left_out.append(f"{shown}: {exc}")
        except OSError as exc:  # a name the disk refuses, a file where a folder should be
            self.left_out.append(f"{shown}: could not be unpacked ({exc.strerror or 'error'})")

    # -- its life --
    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def touch(self) -> None:
        """Mark the folder as in use, so the sweep of stale uploads leaves it alone."""
        if not self.closed:
            with contextlib.suppress(OSError):
                os.utime(self.folder)

    def private_folder(self, name: str) -> Path:
        """A folder for results made from this upload (a neuron index): private to whoever
        holds the upload, and removed with it."""
        folder = self.folder / "private" / name
        folder.parent.mkdir(parents=True, exist_ok=True)
        return folder

    def close(self) -> None:
        """Remove the temporary folder now (again is harmless)."""
        self._finalizer()

    def __enter__(self) -> UploadedDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wrapper_depth(names: list[tuple[str, ...]]) -> int:
    """1 when everything sits in one wrapper folder (zipping ``faces/`` gives
    ``faces/<person>/<image>`` and maybe ``faces/pairs.txt``), so it is dropped; else 0. As
    ``engine.enrollment.common_top_folder``, but a pairs file beside the people is allowed."""
    visible = [parts for parts in names if not is_hidden(parts)]
    images = [p for p in visible if PurePosixPath(p[-1]).suffix.lower() in IMAGE_SUFFIXES]
    one_top = len({p[0] for p in visible}) == 1 and all(len(p) >= 2 for p in visible)
    return 1 if images and one_top and all(len(p) >= 3 for p in images) else 0


def _check_images(count: int, limits: UploadLimits) -> None:
    if count > limits.max_images:
        raise UploadRefused(f"{count:,} images, over the limit of {limits.max_images:,}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_folders() -> list[Path]:
    """Our temporary upload folders now present (all sessions of this machine)."""
    parent = Path(tempfile.gettempdir())
    return sorted(p for p in parent.glob(f"{UPLOAD_PREFIX}*") if p.is_dir())


def sweep_stale_uploads(max_age_seconds: float = STALE_AFTER_SECONDS) -> int:
    """Remove upload folders of ours untouched for ``max_age_seconds``; how many were removed."""
    removed = 0
    now = time.time()
    for folder in upload_folders():
        try:
            stale = now - folder.stat().st_mtime > max_age_seconds
        except OSError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
