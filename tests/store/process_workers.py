"""Code that runs in other processes for the multi-process store tests.

A module of its own (not a test file) so that ``multiprocessing``'s spawn start method can import
it in the child by name; each child opens its own ``Gallery`` on the shared folder, as a second
app instance or a ``cli.py`` job would.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from store import Gallery, NewFace
from tests.store.conftest import FaceMaker

SAME_IMAGE = b"one group photo that every worker tries to enrol"


def enrol_and_delete(
    folder: str,
    worker: int,
    threads: int,
    rounds: int,
    start: Any,
    results: Any,
    options: dict[str, Any] | None = None,
) -> None:
    """``threads`` threads share this process's Gallery; each thread, per round: enrols two
    faces of its own person and deletes one, enrols one face of a person every worker shares
    (created by whichever comes first), enrols and deletes a throw-away person, and searches.
    Once, every thread enrols the same face of the same image (one of them must win).

    Puts one dict per thread on ``results``: the face ids it expects to survive with their
    embeddings, and how its same-image enrol ended. ``options``: more arguments for ``Gallery``
    (a database URL, a Chroma server)."""
    gallery = Gallery(Path(folder), **(options or {}))
    try:
        start.wait(timeout=120)

        def work(t: int) -> None:
            name = f"{worker}.{t}"
            maker = FaceMaker(seed=1000 * worker + t)

            def photo(person: str) -> NewFace:
                # FaceMaker names its images "photo <n> <person>": the same in every worker,
                # which the gallery would rightly take for the same photo enrolled again.
                return maker.face(
                    person, image=f"{name}: photo {maker.photos} of {person}".encode()
                )

            kept: dict[str, list[float]] = {}
            same = None
            try:
                for r in range(rounds):
                    a = photo(f"w{name}")
                    b = photo(f"w{name}")
                    a_id = gallery.enroll(f"worker {name}", a).face_id
                    b_id = gallery.enroll(f"worker {name}", b).face_id
                    kept[b_id] = b.embedding.tolist()
                    gallery.delete_face(a_id)
                    shared = photo("everyone")
                    kept[gallery.enroll("Everyone", shared).face_id] = shared.embedding.tolist()
                    temp = gallery.enroll(f"temp {name}.{r}", photo(f"t{r}")).person
                    gallery.search(maker.embedding(f"w{name}"), k=3)
                    gallery.delete_person(temp.id)
                    if r == rounds // 2:
                        face = maker.face("group", image=SAME_IMAGE)
                        face = replace(face, box=(10.0, 10.0, 109.0, 109.0))
                        result = gallery.enroll("Group", face)
                        same = (result.status, result.face_id, face.embedding.tolist())
                results.put({"worker": name, "kept": kept, "same": same, "error": None})
            except BaseException:  # reported to the test, which fails with it
                results.put(
                    {"worker": name, "kept": kept, "same": same, "error": traceback.format_exc()}
                )

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        gallery.close()


def nearest_face_ids(
    folder: str, embeddings: list[list[float]], options: dict[str, Any] | None = None
) -> list[str | None]:
    """The nearest stored face of each embedding, seen from a freshly opened gallery."""
    with Gallery(Path(folder), **(options or {})) as gallery:
        found = [gallery.search(np.asarray(e, np.float32), k=1) for e in embeddings]
    return [m[0].face_id if m else None for m in found]
