"""Constructed face embeddings with known answers (no model, no download).

dlib-like geometry: 128-d vectors, people's centres about 1.1 apart (random directions at norm
0.8), a person's photos about 0.3 from one another (Gaussian spread), so the 0.5 threshold
separates people as it does real faces.
"""

from __future__ import annotations

import numpy as np

DIM = 128
CENTRE_NORM = 0.8
WITHIN = 0.3
"""Typical distance between two photos of one person."""


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def blobs(people: int, per_person: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, person label per row), people's photos contiguous."""
    rng = np.random.default_rng(seed)
    centres = CENTRE_NORM * unit(rng, people)
    truth = np.repeat(np.arange(people), per_person)
    noise = rng.normal(scale=WITHIN / np.sqrt(2 * DIM), size=(len(truth), DIM))
    return (centres[truth] + noise).astype(np.float32), truth


def chain(per_blob: int = 20, links: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two people 1.2 apart joined by ``links`` faces spaced 0.3 along the line between them.

    Labels: 0 and 1 for the two people, 2 for the chain. Every step of the chain is under 0.5,
    so single linkage (connected components) at 0.5 merges both people into one cluster.
    """
    rng = np.random.default_rng(seed)
    a = CENTRE_NORM * unit(rng, 1)[0]
    direction = unit(rng, 1)[0]
    direction -= (direction @ a) / (a @ a) * a  # orthogonal to a: b keeps a similar norm
    direction /= np.linalg.norm(direction)
    b = a + 1.2 * direction
    spread = WITHIN / np.sqrt(2 * DIM)
    faces_a = a + rng.normal(scale=spread, size=(per_blob, DIM))
    faces_b = b + rng.normal(scale=spread, size=(per_blob, DIM))
    steps = np.linspace(0, 1.2, links + 2)[1:-1]
    links_v = a + steps[:, None] * direction
    embeddings = np.concatenate([faces_a, faces_b, links_v]).astype(np.float32)
    truth = np.concatenate([np.zeros(per_blob), np.ones(per_blob), np.full(links, 2)])
    return embeddings, truth.astype(np.int64)


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    """A clustering as a set of sets of rows: equal partitions compare equal, whatever the
    label numbers."""
    groups: dict[int, set[int]] = {}
    for row, label in enumerate(np.asarray(labels).tolist()):
        groups.setdefault(label, set()).add(row)
    return {frozenset(g) for g in groups.values()}
