"""What Vision Lab keeps on disk, for the Privacy page: each kind of data, where, how much."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredData:
    name: str
    path: Path
    holds: str
    biometric: bool
    files: int
    bytes: int


_KINDS = (
    (
        "Gallery records",
        "gallery/gallery.db",
        "names, notes, face boxes and landmarks, and a copy of every face embedding",
        True,
    ),
    ("Face images", "gallery/chips", "the aligned 150×150 thumbnail of each enrolled face", True),
    ("Search index", "gallery/chroma", "the face embeddings again, indexed for search", True),
    (
        "Evaluation caches",
        "cache",
        "embeddings and aligned chips of images evaluated or trained on (keyed by file path)",
        True,
    ),
    ("Trained models", "models", "trained heads / fine-tuned layers and their metadata", False),
    ("Neuron indexes", "neurons", "top-activating image ids and positions per channel", False),
    ("Operating point", "operating_point.json", "the saved verification threshold", False),
)


def _size(path: Path) -> tuple[int, int]:
    if path.is_file():
        return 1, path.stat().st_size
    if not path.is_dir():
        return 0, 0
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def stored_data(data_dir: str | Path) -> list[StoredData]:
    """Every kind of data kept under ``data_dir``, with its file count and size now."""
    root = Path(data_dir)
    return [
        StoredData(name, root / relative, holds, biometric, *_size(root / relative))
        for name, relative, holds, biometric in _KINDS
    ]
