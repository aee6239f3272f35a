"""Bulk enrolment: a folder or zip laid out ``<person>/<images>`` into the gallery.

The Enroll page and ``cli.py enroll`` both call :func:`enroll_folder`, so a folder gives the
same summary whichever way it comes in. Rules, the same everywhere:

* one image enrols one face. An image with several faces is **skipped** and counted as
  "several faces" (in bulk there is nobody to ask which face is the person) unless one face
  clearly dominates it (:func:`main_face`: at least ``MAIN_FACE_AREA_RATIO`` times the area of
  every other, and the photo framed on it); that face is then enrolled and the outcome says
  "main face taken". ``take_main_face=False`` keeps every several-face image out;
* the person is the top folder's name, underscores read as spaces (``Eileen_Collins`` →
  "Eileen Collins", LFW's layout); images in deeper sub-folders belong to that person;
* an image already enrolled for that person (same SHA-256) is counted as a duplicate, and
  recognised by its hash **before it is decoded**: a re-run of the same folder costs reading
  and hashing the files, not detecting and embedding them again;
* a folder whose name ``store.names`` refuses (too long, id-like, control characters, empty
  once invisible characters go) makes its images **skipped** with the reason: the job goes on;
* a zip is read in memory, never extracted, and refused whole when it is unsafe
  (``engine.safe_zip``: zip-slip entries, too many entries, a zip bomb).
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Literal

from engine.errors import InvalidImage
from engine.images import IMAGE_SUFFIXES
from engine.safe_zip import (
    ArchiveLimits,
    ReadBudget,
    checked_entries,
    common_top_folder,
    is_hidden,
    open_zip,
    zip_entry_reader,
)

if TYPE_CHECKING:
    from engine.faces.pipeline import Face, FacePipeline
    from store import Gallery

Outcome = Literal["enrolled", "duplicate", "no_face", "several_faces", "unreadable", "bad_name"]
OUTCOMES: tuple[Outcome, ...] = (
    "enrolled",
    "duplicate",
    "no_face",
    "several_faces",
    "unreadable",
    "bad_name",
)
OUTCOME_LABELS: dict[Outcome, str] = {
    "enrolled": "enrolled",
    "duplicate": "skipped as duplicate",
    "no_face": "no face",
    "several_faces": "several faces",
    "unreadable": "unreadable",
    "bad_name": "folder name refused",
}

EnrollSource = str | Path | bytes | bytearray | BinaryIO
"""A folder path, a ``.zip`` path, or a zip's bytes / open file (e.g. a Streamlit upload)."""

MAIN_FACE_AREA_RATIO = 1.4
"""How much larger (box area) the main face of a several-face photo must be than every other
face before bulk enrolment takes it. The detector's boxes come in scale steps of 1.2× a side
(1.44× the area), so 1.4 means "at least one step larger". Size alone is not enough: the photo
must also be framed on that face (:func:`main_face`). Measured on 700 random LFW photos, 49
had several faces; about half pass both tests, the rest (faces of equal size, or the larger
face off-centre) stay skipped."""

ProgressCallback = Callable[[int, int, "FileOutcome"], None]
"""``progress(done, total, outcome_of_the_file_just_done)``."""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file, and why, in words a user can act on."""

    item: str
    """The file's path inside the folder or zip."""
    person: str
    outcome: Outcome
    reason: str = ""
    face_id: str | None = None
    main_face: bool = False
    """Enrolled from a several-face photo: its main face (:func:`main_face`) was taken."""

    @property
    def label(self) -> str:
        """The outcome in words, "main face taken" for an image enrolled by its main face."""
        return "main face taken" if self.main_face else OUTCOME_LABELS[self.outcome]


@dataclass(frozen=True)
class EnrollSummary:
    """The result of a bulk enrolment: per-file outcomes and their counts."""

    outcomes: tuple[FileOutcome, ...]
    total: int
    """Images found; more than ``len(outcomes)`` when the run was cancelled."""
    cancelled: bool = False
    ignored: tuple[str, ...] = field(default=())
    """Files not considered: not images, hidden, or not inside a person folder."""
    stopped: str | None = None
    """Why the job stopped early when the store failed under it (index server gone, disk
    full, database locked): that fault's sentence. The file it was writing is not counted and
    was not written; ``outcomes`` are what was done before."""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def counts(self) -> dict[Outcome, int]:
        return {outcome: self.count(outcome) for outcome in OUTCOMES}

    @property
    def enrolled(self) -> int:
        return self.count("enrolled")

    @property
    def duplicate(self) -> int:
        return self.count("duplicate")

    @property
    def no_face(self) -> int:
        return self.count("no_face")

    @property
    def several_faces(self) -> int:
        return self.count("several_faces")

    @property
    def unreadable(self) -> int:
        return self.count("unreadable")

    @property
    def main_face_taken(self) -> int:
        """Enrolled images that had several faces, of which the main one was taken."""
        return sum(1 for o in self.outcomes if o.main_face)

    @property
    def people(self) -> list[str]:
        """People who received at least one new face."""
        return sorted({o.person for o in self.outcomes if o.outcome == "enrolled"})

    def as_dict(self) -> dict:
        return {
            "counts": dict(self.counts),
            "main_face_taken": self.main_face_taken,
            "total": self.total,
            "done": len(self.outcomes),
            "cancelled": self.cancelled,
            "stopped": self.stopped,
            "people": self.people,
            "files": [
                {
                    "item": o.item,
                    "person": o.person,
                    "outcome": o.outcome,
                    "reason": o.reason,
                    "face_id": o.face_id,
                    "main_face": o.main_face,
                }
                for o in self.outcomes
            ],
            "ignored": list(self.ignored),
        }


def image_sha256(source: bytes | bytearray | str | Path) -> str:
    """Hex SHA-256 of an image file's bytes: the identity used to spot duplicate enrolments."""
    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with Path(source).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main_face(faces: list[Face], width: int, height: int) -> Face | None:
    """The face a several-face photo of ``width`` × ``height`` pixels is clearly of, or None.

    It must be the largest by at least ``MAIN_FACE_AREA_RATIO`` (box area) over every other
    face, **and** the photo must be framed on it: its box holds the image centre and its centre
    is nearer the image centre than any other face's. Two faces of similar size, or a large
    face at the edge of a picture of someone else, give None: the image stays skipped.
    """
    if len(faces) < 2:
        return faces[0] if faces else None
    cx, cy = (width - 1) / 2, (height - 1) / 2
    by_area = sorted(faces, key=lambda f: f.box.area(), reverse=True)
    largest, runner_up = by_area[0], by_area[1]
    if largest.box.area() < MAIN_FACE_AREA_RATIO * runner_up.box.area():
        return None
    box = largest.box
    if not (box.left <= cx <= box.right and box.top <= cy <= box.bottom):
        return None

    def off_centre(face: Face) -> float:
        x, y = face.box.center
        return math.hypot(x - cx, y - cy)

    if any(off_centre(other) <= off_centre(largest) for other in by_area[1:]):
        return None
    return largest


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the pipeline sees the image (EXIF rotation applied), read from the
    header only; None when the header cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            rotated = image.getexif().get(0x0112) in (5, 6, 7, 8)  # Orientation: a quarter turn
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return (height, width) if rotated else (width, height)


def person_name_from_folder(folder: str) -> str:
    """``Eileen_Collins`` → "Eileen Collins": LFW and most datasets use underscores."""
    return " ".join(displayable(folder).replace("_", " ").split())


def displayable(name: str) -> str:
    """A file name that is not UTF-8 on disk (Python keeps its bytes as surrogate escapes) with
    those bytes shown as "�": the database, JSON and the page cannot store the escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True)
class _Item:
    """One image to enrol, read lazily so a big folder is never all in memory."""

    name: str
    person: str
    read: Callable[[], bytes]


def enroll_folder(
    pipeline: FacePipeline,
    gallery: Gallery,
    source: EnrollSource,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    limits: ArchiveLimits | None = None,
    take_main_face: bool = True,
) -> EnrollSummary:
    """Enrol every image of a ``<person>/<images>`` folder or zip; see the module docstring.

    ``take_main_face``: from an image with several faces, enrol the one that clearly dominates
    it (:func:`main_face`); False skips every several-face image.

    ``should_stop()`` is asked before each file; when it returns True the summary so far is
    returned with ``cancelled=True`` (what was enrolled stays enrolled). Raises
    ``InvalidArchive`` for a missing folder, a damaged or unsafe zip, and ``ModelMismatch``
    when the gallery holds another model's embeddings. A ``StoreFault`` (the index server
    gone, a full disk, a locked database) stops the job: the summary so far is returned with
    ``stopped`` set to the fault's sentence.
    """
    from store.errors import StoreFault

    outcomes: list[FileOutcome] = []
    with _open_items(source, limits or ArchiveLimits()) as (items, ignored):
        for item in items:
            if should_stop is not None and should_stop():
                return EnrollSummary(tuple(outcomes), len(items), True, tuple(ignored))
            try:
                outcome = _enroll_item(pipeline, gallery, item, take_main_face)
            except StoreFault as fault:
                return EnrollSummary(
                    tuple(outcomes), len(items), False, tuple(ignored), stopped=str(fault)
                )
            outcomes.append(outcome)
            if progress is not None:
                progress(len(outcomes), len(items), outcome)
    return EnrollSummary(tuple(outcomes), len(items), False, tuple(ignored))


def _enroll_item(
    pipeline: FacePipeline, gallery: Gallery, item: _Item, take_main_face: bool
) -> FileOutcome:
    from store import InvalidName, NewFace
    from store.names import clean_name

    def outcome(
        kind: Outcome, reason: str = "", face_id: str | None = None, main: bool = False
    ) -> FileOutcome:
        return FileOutcome(item.name, item.person, kind, reason, face_id, main)

    try:  # before reading: a folder's name is checked as a typed name is (store.names)
        person = clean_name(item.person)
    except InvalidName as exc:  # one skipped file, the job goes on; exc never repeats the name
        return outcome("bad_name", f"its folder's name is refused: {exc}")
    item = replace(item, person=person)  # the name as stored (NFC, invisible characters gone)
    try:
        data = item.read()
    except InvalidImage as exc:
        return outcome("unreadable", str(exc))
    sha256 = image_sha256(data)
    already = _enrolled_for(gallery, person, sha256)
    if already is not None:  # before decoding: a re-run costs a hash, not a detection
        face_id, name = already
        return outcome("duplicate", f"this face is already enrolled as {name}", face_id)
    try:
        faces = pipeline.analyze(data)
    except InvalidImage as exc:
        return outcome("unreadable", str(exc))
    if not faces:
        return outcome("no_face", "no face was found")
    face, reason = faces[0], ""
    if len(faces) > 1:
        size = _image_size(data) if take_main_face else None
        face = main_face(faces, *size) if size is not None else None
        if face is None:
            why = (
                "none is clearly the main one (largest and at the centre)"
                if take_main_face
                else "bulk enrolment takes one-face images only"
            )
            return outcome("several_faces", f"{len(faces)} faces: {why}")
        reason = f"{len(faces)} faces: took the main one (the largest, at the centre)"
    new_face = NewFace.from_face(face, sha256, pipeline.model_id)
    result = gallery.enroll(person, new_face, create=True)
    if result.status == "duplicate":
        return outcome(
            "duplicate", f"this face is already enrolled as {result.person.name}", result.face_id
        )
    return outcome("enrolled", reason, result.face_id, main=bool(reason))


def _enrolled_for(gallery: Gallery, person: str, sha256: str) -> tuple[str, str] | None:
    """(face id, person's name) when ``person`` already has a face cut from this very file.

    Only the same person's: the same file under another person's folder is still analysed,
    and the store's own check (image and box, ``store.face_writes``) says whose face it is.
    """
    stored = gallery.faces_from_image(sha256)
    if not stored:
        return None
    found = gallery.find_person(person)
    if found is None:
        return None
    for face in stored:
        if face.person_id == found.id:
            return face.id, found.name
    return None


@contextmanager
def _open_items(
    source: EnrollSource, limits: ArchiveLimits
) -> Iterator[tuple[list[_Item], list[str]]]:
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        yield _folder_items(Path(source))
        return
    with open_zip(source) as archive:
        yield _zip_items(archive, limits)


def _folder_items(root: Path) -> tuple[list[_Item], list[str]]:
    items: list[_Item] = []
    ignored: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        name = displayable("/".join(parts))
        skip = _skip_reason(parts)
        if skip:
            ignored.append(f"{name}: {skip}")
            continue
        items.append(_Item(name, person_name_from_folder(parts[0]), _file_reader(path)))
    return items, ignored


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InvalidImage(f"the file could not be read ({exc.strerror or exc})") from exc

    return read


def _zip_items(archive: zipfile.ZipFile, limits: ArchiveLimits) -> tuple[list[_Item], list[str]]:
    entries = checked_entries(archive, limits)
    names = [PurePosixPath(info.filename.replace("\\", "/")).parts for info in entries]
    prefix = common_top_folder(names)
    budget = ReadBudget(limits.max_total_bytes)
    items: list[_Item] = []
    ignored: list[str] = []
    for info, parts in zip(entries, names, strict=True):
        parts = parts[prefix:]
        skip = _skip_reason(parts)
        if skip:
            ignored.append(f"{info.filename}: {skip}")
            continue
        reader = zip_entry_reader(archive, info, limits.max_entry_bytes, budget)
        items.append(_Item("/".join(parts), person_name_from_folder(parts[0]), reader))
    return items, ignored


def _skip_reason(parts: tuple[str, ...]) -> str:
    if is_hidden(parts):
        return "hidden or system file"
    if len(parts) < 2:
        return "not inside a person folder"
    if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file (by its extension)"
    if not person_name_from_folder(parts[0]):
        return "the person folder has no name"
    return ""
