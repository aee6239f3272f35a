"""The k-nearest-neighbour graph every clustering method here starts from.

Exact search, in blocks of rows: each block's Euclidean distances to all faces are one matrix
product (‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b), of which only the ``k`` smallest per row are kept.
Memory is O(block · N + N · k), never N²: 13,233 faces with k = 30 hold 4.8 MB of graph and a
50 MB block. Exact rather than Chroma's HNSW (``store.search``): at 13,233 faces one pass of
matrix products and top-k selections takes about 1.6 s on two cores, and an approximate graph
loses neighbours (HNSW at Chroma's defaults misses about 1 in 13 true nearest faces at
100,000, see ``reference-figures.md``), which a clustering turns into split people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse

from engine.clustering.errors import ClusteringCancelled

DEFAULT_K = 30
"""Neighbours kept per face. On 4,000 LFW images (``bench.cluster``), k = 5 or 10 loses 0.03 to
0.1 BCubed F (a large person's faces stop reaching one another); 20 to 100 give the same score
within the seed's ±0.003."""

BLOCK_ROWS = 1024
"""Rows per distance block: 1,024 × 13,233 float32 is 54 MB."""

Progress = Callable[[int, int], None]
"""``progress(done, total)``."""
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class NeighbourGraph:
    """Each face's ``k`` nearest other faces, nearest first.

    Rows with fewer than ``k`` other faces are padded with index -1 and distance inf.
    """

    indices: np.ndarray = field(repr=False)
    """(n, k) int64 row numbers of the neighbours."""
    distances: np.ndarray = field(repr=False)
    """(n, k) float32 Euclidean distances, ascending along each row."""

    @property
    def size(self) -> int:
        return len(self.indices)

    @property
    def k(self) -> int:
        return self.indices.shape[1] if self.indices.ndim == 2 else 0

    def edges(self, threshold: float) -> sparse.csr_matrix:
        """Symmetric (n, n) sparse matrix of the distances at or below ``threshold`` (the
        engine's match rule), over the union of both directions of the k-NN relation.

        A pair at distance exactly 0 (the same photo twice) is stored as a tiny positive
        number, so that sparse formats do not read it as "no edge".
        """
        n = self.size
        keep = (self.indices >= 0) & (self.distances <= threshold)
        rows = np.repeat(np.arange(n), self.k)[keep.ravel()]
        cols = self.indices[keep]
        values = np.maximum(self.distances[keep].astype(np.float64), 1e-12)
        graph = sparse.csr_matrix((values, (rows, cols)), shape=(n, n))
        return graph.maximum(graph.T).tocsr()


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) in float32, from one matrix product."""
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    squared = (a32 * a32).sum(1)[:, None] + (b32 * b32).sum(1)[None, :] - 2.0 * (a32 @ b32.T)
    return np.sqrt(np.clip(squared, 0.0, None))


def nearest(
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    *,
    exclude_self: bool = False,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> NeighbourGraph:
    """The ``k`` nearest rows of ``base`` for each row of ``queries`` (exact, blockwise).

    ``exclude_self``: ``queries`` is ``base`` and a row is not its own neighbour. Equal
    distances are ordered by row number. ``should_stop()`` is asked between blocks
    (``ClusteringCancelled``). Torch does the block's product and its top-k selection in
    place (numpy's ``argpartition`` over a 1,024 × 13,233 block is ten times slower, and a
    fresh 50 MB array per block costs more in page faults than the product itself).
    """
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    b = torch.from_numpy(np.ascontiguousarray(base, dtype=np.float32))
    n, m = len(q), len(b)
    kept = max(0, min(k, m - 1 if exclude_self else m))
    indices = np.full((n, k), -1, dtype=np.int64)
    distances = np.full((n, k), np.inf, dtype=np.float32)
    if kept == 0 or n == 0:
        return NeighbourGraph(indices, distances)
    b_squared = (b * b).sum(1)
    buffer = torch.empty((min(BLOCK_ROWS, n), m), dtype=torch.float32)
    with torch.inference_mode():
        for start in range(0, n, BLOCK_ROWS):
            if should_stop is not None and should_stop():
                raise ClusteringCancelled("the clustering was stopped while it searched neighbours")
            stop = min(start + BLOCK_ROWS, n)
            rows = q[start:stop]
            block = buffer[: stop - start]
            torch.mm(rows, b.T, out=block)  # ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b, in place
            block.mul_(-2.0).add_((rows * rows).sum(1)[:, None]).add_(b_squared[None, :])
            block.clamp_(min=0.0)
            if exclude_self:
                block[torch.arange(stop - start), torch.arange(start, stop)] = float("inf")
            values, found = torch.topk(block, kept, dim=1, largest=False, sorted=True)
            part, part_d = found.numpy(), values.numpy()
            order = np.lexsort((part, part_d), axis=1)  # by distance, then by row number
            indices[start:stop, :kept] = np.take_along_axis(part, order, axis=1)
            distances[start:stop, :kept] = np.sqrt(np.take_along_axis(part_d, order, axis=1))
            if progress is not None:
                progress(stop, n)
    return NeighbourGraph(indices, distances)


def knn_graph(
    embeddings: np.ndarray,
    k: int = DEFAULT_K,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> NeighbourGraph:
    """Each face's ``k`` nearest other faces (exact; see the module docstring)."""
    return nearest(
        embeddings,
        embeddings,
        k,
        exclude_self=True,
        progress=progress,
        should_stop=should_stop,
    )
