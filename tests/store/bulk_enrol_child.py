"""A bulk enrolment to kill: ``python -m tests.store.bulk_enrol_child GALLERY MODE SOURCE
[DATABASE_URL CHROMA_HOST:PORT]`` (the last two: a gallery on servers).

MODE ``folder`` runs ``engine.enrollment.enroll_folder`` — the code behind ``cli.py enroll`` and
the Enroll page — on SOURCE (``<person>/<images>``), with :class:`SyntheticPipeline` standing in
for the face model so that a file costs only the store's own work. MODE ``import`` imports the
export SOURCE in batches of ``IMPORT_BATCH_FOR_TESTS`` faces (the store's batch write path).
Prints ``ready`` once the gallery is open, so the killer times its signal from there.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import store.transfer
from store import Gallery
from store.gallery import DEFAULT_EMBEDDING_DIM, DEFAULT_MODEL_ID

IMPORT_BATCH_FOR_TESTS = 8


class SyntheticPipeline:
    """One face per image, everything derived from the file's bytes: the same file always
    gives the same face, as the real pipeline does."""

    model_id = DEFAULT_MODEL_ID

    def analyze(self, data: bytes) -> list[SimpleNamespace]:
        seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        return [
            SimpleNamespace(
                box=SimpleNamespace(left=10.0, top=12.0, right=109.0, bottom=111.0),
                score=1.0,
                landmarks=rng.uniform(0, 32, (5, 2)),
                chip=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                embedding=rng.normal(0, 0.125, DEFAULT_EMBEDDING_DIM).astype(np.float32),
            )
        ]


def main(gallery_dir: str, mode: str, source: str, *servers: str) -> None:
    from engine.enrollment import enroll_folder

    store.transfer.IMPORT_BATCH = IMPORT_BATCH_FOR_TESTS
    options: dict = {}
    if servers:
        host, port = servers[1].rsplit(":", 1)
        options = {"database_url": servers[0], "chroma_host": host, "chroma_port": int(port)}
    with Gallery(Path(gallery_dir), **options) as gallery:
        print("ready", flush=True)
        if mode == "folder":
            summary = enroll_folder(SyntheticPipeline(), gallery, Path(source))  # type: ignore[arg-type]
            print(f"enrolled {summary.enrolled} duplicate {summary.duplicate}", flush=True)
        else:
            print(gallery.import_zip(Path(source)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
