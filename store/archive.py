"""Gallery exports: one zip carrying people, faces, embeddings and chips, and reading it safely.

Layout of an export::

    manifest.json      format, format and schema versions, model id, embedding dimension,
                       counts, and the SHA-256 of every other member
    people.json        [{id, name, notes, created}]
    faces.json         [{id, person_id, image_sha256, box, landmarks, score, created, chip}]
    embeddings.npy     (n_faces, dim) float32, row i belongs to faces.json[i]
    chips/<person_id>/<face_id>.png

An export is untrusted input when it comes back: ``read_archive`` checks the whole archive in
memory before the gallery writes anything — member names (no zip-slip: nothing is ever
extracted under a name taken from the archive, and names with ``..``, absolute paths or drive
letters are refused outright), sizes and compression ratios (zip bombs), checksums, the model
id, and every record (ids become folder and file names, so they must be plain hex).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from store.errors import InvalidExport, ModelMismatch
from store.faults import storage_faults

EXPORT_FORMAT = "vision-lab-gallery"
EXPORT_FORMAT_VERSION = 1

MAX_MEMBERS = 500_000
MAX_MEMBER_BYTES = 1 << 30
MAX_TOTAL_BYTES = 8 << 30
MAX_COMPRESSION_RATIO = 200
"""Members over 1 MiB that inflate more than this are refused (JSON and float32 arrays
compress 3–10×; a zip bomb compresses 1000× and more)."""
MAX_CHIP_PIXELS = 1024 * 1024

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
"""A person or face id (``store.records.new_id``); names never look like one (``store.names``)."""


@dataclass(frozen=True)
class GalleryArchive:
    """The content of an export, in memory."""

    model_id: str
    embedding_dim: int
    schema_version: int
    people: list[dict[str, Any]]
    faces: list[dict[str, Any]]
    embeddings: np.ndarray
    chips: Mapping[str, bytes]
    """PNG bytes by member name (``faces[i]["chip"]``)."""


def chip_member(person_id: str, face_id: str) -> str:
    return f"chips/{person_id}/{face_id}.png"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_archive(path: Path, archive: GalleryArchive) -> Path:
    """Write ``archive`` to ``path`` via a temporary file and a rename: a half-written export
    never exists under the final name."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(archive.embeddings, dtype="<f4"), allow_pickle=False)
    members: dict[str, bytes] = {
        "people.json": json.dumps(archive.people, ensure_ascii=False, indent=1).encode(),
        "faces.json": json.dumps(archive.faces, ensure_ascii=False, indent=1).encode(),
        "embeddings.npy": buffer.getvalue(),
        **archive.chips,
    }
    manifest = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "schema_version": archive.schema_version,
        "model_id": archive.model_id,
        "embedding_dim": archive.embedding_dim,
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "people": len(archive.people),
        "faces": len(archive.faces),
        "files": {name: _sha256(data) for name, data in sorted(members.items())},
    }
    temp = path.with_name(f".tmp-{path.name}")
    try:
        with (
            storage_faults("the export", "no export was written"),
            zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        ):
            zf.writestr("manifest.json", json.dumps(manifest, indent=1))
            for name, data in members.items():
                # PNG is compressed already: stored as is.
                kind = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
                zf.writestr(name, data, compress_type=kind)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def safe_member_name(name: str) -> bool:
    """Zip-slip guard: a relative POSIX path without '..', drive letters or backslashes."""
    if not name or "\\" in name or name.startswith("/") or ":" in name or "\x00" in name:
        return False
    return all(part not in ("", ".", "..") for part in PurePosixPath(name).parts)


def read_archive(path: Path, model_id: str, embedding_dim: int) -> GalleryArchive:
    """Read and check a whole export. ``InvalidExport`` when it is malformed, unsafe or damaged;
    ``ModelMismatch`` when it holds another model's embeddings."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InvalidExport(f"{path} is not a readable zip file ({exc})") from exc
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        _check_members(path, zf.infolist())

        def read(name: str) -> bytes:
            try:
                info = zf.getinfo(name)
            except KeyError as exc:
                raise InvalidExport(f"{path} lacks {name}") from exc
            with zf.open(info) as member:
                data = member.read(info.file_size + 1)  # never more than declared (+1 to see)
            if len(data) != info.file_size:
                raise InvalidExport(f"{path}: {name} is not the size its header says")
            return data

        try:
            manifest = json.loads(read("manifest.json"))
        except ValueError as exc:
            raise InvalidExport(f"{path}: manifest.json is not JSON") from exc
        _check_manifest(path, manifest, model_id, embedding_dim)
        files: dict[str, str] = manifest["files"]
        extra = sorted({i.filename for i in infos} - set(files) - {"manifest.json"})
        if extra:
            raise InvalidExport(f"{path} holds files its manifest does not list: {extra[:3]}")
        data: dict[str, bytes] = {}
        for name, digest in files.items():
            if not safe_member_name(name):
                raise InvalidExport(f"{path}: the manifest names an unsafe path {name!r}")
            content = read(name)
            if _sha256(content) != digest:
                raise InvalidExport(f"{path}: {name} fails its checksum (a damaged export)")
            data[name] = content
    try:
        people = json.loads(data["people.json"])
        faces = json.loads(data["faces.json"])
        embeddings = np.load(io.BytesIO(data["embeddings.npy"]), allow_pickle=False)
    except (KeyError, ValueError) as exc:
        raise InvalidExport(f"{path}: people, faces or embeddings unreadable ({exc})") from exc
    _check_records(path, people, faces, embeddings, data, embedding_dim)
    return GalleryArchive(
        model_id=model_id,
        embedding_dim=embedding_dim,
        schema_version=int(manifest.get("schema_version", 0)),
        people=people,
        faces=faces,
        embeddings=embeddings.astype(np.float32),
        chips={f["chip"]: data[f["chip"]] for f in faces},
    )


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise InvalidExport(f"{path} has {len(infos)} members, more than a gallery export")
    total = 0
    for info in infos:
        if not safe_member_name(info.filename.rstrip("/")):
            raise InvalidExport(f"{path} contains an unsafe path {info.filename!r}: refused")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if (
            info.file_size > MAX_MEMBER_BYTES
            or total > MAX_TOTAL_BYTES
            or (info.file_size > 1 << 20 and ratio > MAX_COMPRESSION_RATIO)
        ):
            raise InvalidExport(
                f"{path} is too large or too compressed to be a gallery export "
                f"({info.filename}: {info.file_size} bytes from {info.compress_size})"
            )


def _check_manifest(path: Path, manifest: Any, model_id: str, embedding_dim: int) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise InvalidExport(f"{path} is not a Vision Lab gallery export")
    if manifest.get("format_version") != EXPORT_FORMAT_VERSION:
        raise InvalidExport(
            f"{path} has export format {manifest.get('format_version')!r}; this program "
            f"reads version {EXPORT_FORMAT_VERSION}"
        )
    if manifest.get("model_id") != model_id or manifest.get("embedding_dim") != embedding_dim:
        raise ModelMismatch(
            f"{path} holds {manifest.get('model_id')!r} embeddings "
            f"({manifest.get('embedding_dim')}-d); this gallery holds {model_id!r} "
            f"({embedding_dim}-d). Import it into a gallery of that model."
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise InvalidExport(f"{path}: manifest.json lists no files")


def _check_records(
    path: Path,
    people: Any,
    faces: Any,
    embeddings: np.ndarray,
    data: Mapping[str, bytes],
    embedding_dim: int,
) -> None:
    """Every id plain hex (ids become folder and file names), every reference resolved, every
    chip a small PNG."""
    if not isinstance(people, list) or not isinstance(faces, list):
        raise InvalidExport(f"{path}: people.json and faces.json must be lists")
    if embeddings.shape != (len(faces), embedding_dim) or embeddings.dtype.kind != "f":
        raise InvalidExport(
            f"{path}: embeddings.npy is {embeddings.shape} {embeddings.dtype}, expected "
            f"({len(faces)}, {embedding_dim}) floats"
        )
    person_ids = set()
    for p in people:
        ok = isinstance(p, dict) and ID_PATTERN.match(str(p.get("id", ""))) and p.get("name")
        if not ok or p["id"] in person_ids:
            raise InvalidExport(f"{path}: a person record is malformed: {str(p)[:80]}")
        person_ids.add(p["id"])
    face_ids = set()
    for f in faces:
        ok = (
            isinstance(f, dict)
            and ID_PATTERN.match(str(f.get("id", "")))
            and f["id"] not in face_ids
            and f.get("person_id") in person_ids
            and f.get("chip") == chip_member(f["person_id"], f["id"])
            and f["chip"] in data
        )
        if not ok:
            raise InvalidExport(f"{path}: a face record is malformed: {str(f)[:80]}")
        face_ids.add(f["id"])
        decode_chip(data[f["chip"]], f"{path}: {f['chip']}")


def decode_chip(png: bytes, what: str) -> np.ndarray:
    """A chip PNG → (H, W, 3) uint8 RGB; ``InvalidExport`` for anything else or anything big."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG" or image.width * image.height > MAX_CHIP_PIXELS:
                raise InvalidExport(f"{what} is not a face chip PNG")
            return np.asarray(image.convert("RGB"))
    except (OSError, Image.DecompressionBombError) as exc:
        raise InvalidExport(f"{what} is not a readable PNG ({exc})") from exc
