"""Nearest-face search: Chroma's HNSW proposes candidates, exact distances rank them.

Chroma's HNSW gives max(4·k, ``RERANK_POOL``) approximate candidates; their distances are then
recomputed exactly (float64) and sorted. HNSW's recall@50 is far above its recall@1, so the true
nearest face is almost always in the pool, and every distance returned is the engine's own
(comparable with the 0.6 threshold) rather than Chroma's squared float32 one. Apart from
``store.gallery`` because it changes no record: whoever tunes recall reads this file alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from store.db import FACE_KEY, chip_path, chunks, people_by_id, reading, stored_embedding
from store.records import Match, check_embedding

if TYPE_CHECKING:
    from store.gallery import Gallery

RERANK_POOL = 50
"""Search asks Chroma for max(4·k, RERANK_POOL) candidates and re-ranks them exactly."""
MAX_PEOPLE_POOL = 4096
"""``nearest_people`` widens its pool up to this many faces to find k different people."""


def search(
    gallery: Gallery,
    embedding: np.ndarray,
    k: int = 5,
    model_id: str | None = None,
    person_id: str | None = None,
) -> list[Match]:
    """``Gallery.search``: HNSW candidates re-ranked exactly; a person's faces exhaustively."""
    query = check_embedding(embedding, model_id, gallery.model_id, gallery.embedding_dim)
    if k <= 0:
        return []
    with reading(gallery):
        if person_id is not None:
            ids, vectors = _person_vectors(gallery, person_id)
        else:
            ids, vectors = gallery._index.candidates(query, max(4 * k, RERANK_POOL))
        return _ranked_matches(gallery, query, ids, vectors)[:k]


def nearest_people(
    gallery: Gallery, embedding: np.ndarray, k: int = 5, model_id: str | None = None
) -> list[Match]:
    """``Gallery.nearest_people``: the candidate pool grows (×4, up to ``MAX_PEOPLE_POOL``
    faces) until it holds ``k`` different people."""
    query = check_embedding(embedding, model_id, gallery.model_id, gallery.embedding_dim)
    if k <= 0:
        return []
    with reading(gallery):
        total, with_faces = gallery._db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT person_id) FROM faces WHERE model_id=?",
            (gallery.model_id,),
        ).fetchone()
        wanted = min(k, int(with_faces))
        pool = max(4 * k, RERANK_POOL)
        while True:
            ids, vectors = gallery._index.candidates(query, pool)
            best: dict[str, Match] = {}
            for match in _ranked_matches(gallery, query, ids, vectors):
                best.setdefault(match.person.id, match)
            if len(best) >= wanted or pool >= min(total, MAX_PEOPLE_POOL):
                return list(best.values())[:k]
            pool = min(pool * 4, MAX_PEOPLE_POOL)


def exact_distances(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Euclidean distances in float64, as ``engine.verification.face_distance`` computes them."""
    diff = vectors.astype(np.float64) - query.astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _person_vectors(gallery: Gallery, person_id: str) -> tuple[list[str], np.ndarray]:
    gallery.get_person(person_id)
    rows = gallery._db.execute(
        f"SELECT id, embedding, {FACE_KEY} FROM faces WHERE person_id=? AND model_id=?",
        (person_id, gallery.model_id),
    ).fetchall()
    vectors = np.array([stored_embedding(r[1], r[2], r[0]) for r in rows], dtype=np.float32)
    return [r[0] for r in rows], vectors.reshape(len(rows), gallery.embedding_dim)


def _ranked_matches(
    gallery: Gallery, query: np.ndarray, ids: list[str], vectors: np.ndarray
) -> list[Match]:
    """Matches sorted by exact distance; ids without a face row (an enrol or delete caught
    half-way by another process) are skipped."""
    if not ids:
        return []
    distances = exact_distances(query, vectors)
    owner: dict[str, str] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        owner.update(
            gallery._db.execute(
                f"SELECT id, person_id FROM faces WHERE id IN ({marks})", chunk
            ).fetchall()
        )
    people = people_by_id(gallery, set(owner.values()))
    matches = []
    for i in np.argsort(distances, kind="stable"):
        face_id = ids[int(i)]
        person_id = owner.get(face_id)
        if person_id is None or person_id not in people:
            continue
        matches.append(
            Match(
                person=people[person_id],
                face_id=face_id,
                distance=float(distances[i]),
                chip_path=chip_path(gallery, person_id, face_id),
                model_id=gallery.model_id,
            )
        )
    return matches
