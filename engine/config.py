"""Configuration in one place: defaults, overridden by environment variables.

Every variable the app, the CLI and the engine honour is read here and nowhere else
(``VISIONLAB_*``, ``CHROMA_HOST``, ``CHROMA_PORT``); code below takes a ``Settings``.
The login (``.streamlit/secrets.toml``) is read by ``engine.access``, never from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from engine.style.options import MAX_STYLE_WORK


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(float(raw))
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from exc


def _env_paths(name: str) -> tuple[Path, ...]:
    """A list of folders separated by ``os.pathsep`` (":" on Linux and macOS, ";" on Windows)."""
    raw = os.environ.get(name, "")
    return tuple(Path(part.strip()).expanduser() for part in raw.split(os.pathsep) if part.strip())


@dataclass(frozen=True)
class Settings:
    """What an operator can tune without touching code."""

    data_dir: Path
    """Where the gallery, caches and saved operating points live."""
    max_pixels: int
    """Images with more pixels than this are refused before decoding (decompression bombs)."""
    detect_max_side: int
    """Images are shrunk so their long side is at most this before face detection."""
    device: str | None
    """Torch device name; None picks CUDA when present, else CPU."""
    augment: str = "mirror"
    """Test-time augmentation of face descriptors: "none", "mirror" or "jitter"."""
    max_jobs: int = 2
    """Heavy jobs (style transfer, training, indexing, bulk enrolment…) run at once per server
    process; more wait in a queue (``engine.jobs``)."""
    max_style_work: int = MAX_STYLE_WORK
    """Style transfer budget in pixel-steps, Σ over scales of H × W × steps
    (``engine.style.options.StyleOptions.work``)."""
    server_roots: tuple[Path, ...] = ()
    """Folders on this server that admins may read from the app (and nothing outside them);
    none by default, so the app reads uploads only. The CLI takes any path."""
    discover_max_faces: int = 2_000
    """Faces one visitor's Discover result may hold: it keeps each face's chip (67.5 KB), so
    2,000 faces are ~135 MB of the server's memory per visitor. The CLI takes up to
    ``engine.clustering.collection.MAX_FACES``."""
    database_url: str | None = None
    """The gallery's database (``VISIONLAB_DATABASE_URL``): None keeps a SQLite file in the
    data folder; ``postgresql+psycopg://…`` puts it on a PostgreSQL server."""
    chroma_host: str | None = None
    """A Chroma server for the gallery's vectors; None keeps Chroma embedded in the data folder."""
    chroma_port: int = 8000
    cache_dir: Path = Path.home() / ".cache" / "vision-lab"
    """Where converted model weights are kept (VGG16 from ONNX)."""

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_dir=Path(os.environ.get("VISIONLAB_DATA", "data")).expanduser(),
            max_pixels=_env_int("VISIONLAB_MAX_PIXELS", 50_000_000),
            detect_max_side=_env_int("VISIONLAB_DETECT_MAX_SIDE", 1600),
            device=os.environ.get("VISIONLAB_DEVICE") or None,
            augment=os.environ.get("VISIONLAB_AUGMENT", "mirror"),
            max_jobs=max(1, _env_int("VISIONLAB_MAX_JOBS", 2)),
            max_style_work=_env_int("VISIONLAB_MAX_STYLE_WORK", MAX_STYLE_WORK),
            server_roots=_env_paths("VISIONLAB_SERVER_ROOTS"),
            discover_max_faces=max(1, _env_int("VISIONLAB_DISCOVER_MAX_FACES", 2_000)),
            database_url=os.environ.get("VISIONLAB_DATABASE_URL", "").strip() or None,
            chroma_host=os.environ.get("CHROMA_HOST", "").strip() or None,
            chroma_port=_env_port("CHROMA_PORT", 8000),
            cache_dir=Path(
                os.environ.get("VISIONLAB_CACHE") or Path.home() / ".cache" / "vision-lab"
            ).expanduser(),
        )

    def with_data_dir(self, data_dir: str | Path) -> Settings:
        """The same settings over another data folder (the CLI's ``--data``)."""
        return replace(self, data_dir=Path(data_dir).expanduser())
