"""Gallery search: Chroma's HNSW (defaults, tuned, tuned + exact re-rank) against brute force.

    python -m bench.search --n 10000 100000 [1000000] [--queries 500] [--json OUT] [--lfw DIR]

The gallery is N synthetic face embeddings that look like the face ResNet's: identity centres
drawn from a Gaussian fitted to real LFW identity centres, and each face a centre plus noise
from the real within-person covariance (``--lfw``: fitted to our cached LFW embeddings from
``bench.lfw``, ``data/cache/lfw-*.npz``; without them, the same statistics as measured once
and written down below). Identities have 1 + Poisson(3) faces (4 on average); queries are fresh
faces of enrolled identities.

Each N is inserted in batches of ``client.get_max_batch_size()`` into an embedded Chroma
(``PersistentClient``, l2) — with ``--chroma server`` (or ``both``) into a ``chroma run`` on
127.0.0.1 started for the run, through ``HttpClient`` — twice: once with Chroma's default HNSW
settings, once with the gallery's (``store.index.HNSW_TUNED``); then queried one probe at a
time for the top 10.
Compared side by side on the same probes, against exact brute force (numpy, float64 re-check):

- insert rate (embeddings/s);
- query latency p50 / p99 (ms, single queries);
- recall@1 (top-1 equal to the exact top-1) and recall@10 (overlap of the top-10 sets);
- id@1: the top-1 face belongs to the probe's identity (how hard the synthetic data is);
- resident memory after the queries: what the embedded index added to this process, or the
  server process's whole resident set.

"tuned + re-rank" is what ``Gallery.search`` does: ask HNSW for ``max(4·k, RERANK_POOL)``
candidates with their embeddings and sort them by exact distance.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from store.gallery import RERANK_POOL
from store.index import HNSW_TUNED, chroma_settings

TOP_K = 10
DIM = 128

# Statistics of the face ResNet's embeddings of LFW (our cached DevTrain+DevTest images, 4,992
# faces of 3,095 people, 1,165 with two or more): the fallback when the cache is absent.
TYPICAL_MEAN_NORM = 1.306  # |mean embedding|; embedding norms average 1.43
TYPICAL_BETWEEN_VAR = 0.247  # trace of the identity-centre covariance
TYPICAL_WITHIN_VAR = 0.097  # trace of the within-person covariance: same-person distance ≈ 0.44
TYPICAL_BETWEEN_DIM = 22.4  # effective dimensions (participation ratio) of the spectra
TYPICAL_WITHIN_DIM = 60.0


@dataclass(frozen=True)
class FaceDistribution:
    """Identity centres ~ N(mean, between); a face = its centre + N(0, within)."""

    mean: np.ndarray
    between: np.ndarray  # (dim, dim) factor L: samples are z @ L.T
    within: np.ndarray
    source: str

    def centres(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + rng.standard_normal((n, self.mean.size)) @ self.between.T

    def faces(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.standard_normal(centres.shape) @ self.within.T
        return (centres + noise).astype(np.float32)


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return vectors * np.sqrt(np.clip(values, 0, None))


def fit_lfw(cache: Path) -> FaceDistribution:
    """Between- and within-identity covariances of real embeddings (people named by folder)."""
    z = np.load(cache, allow_pickle=False)
    # bench.lfw stores one array per test-time augmentation; "none" is dlib's descriptor.
    x = z["embed_none" if "embed_none" in z.files else "plain"].astype(np.float64)
    people = np.array([str(p).split("/")[0] for p in z["paths"]])
    _, person, count = np.unique(people, return_inverse=True, return_counts=True)
    residuals, dof = [], 0
    for i in np.flatnonzero(count >= 2):
        rows = x[person == i]
        residuals.append(rows - rows.mean(0))
        dof += len(rows) - 1
    r = np.concatenate(residuals)
    within = r.T @ r / dof
    between = np.cov(x.T) - within  # total = between + within
    source = f"Gaussian fitted to {len(x)} real LFW embeddings ({cache.name})"
    return FaceDistribution(x.mean(0), _psd_factor(between), _psd_factor(within), source)


def typical_distribution(seed: int = 0) -> FaceDistribution:
    """The LFW statistics above, on random axes with a power-law spectrum of the same size."""
    rng = np.random.default_rng(seed)

    def factor(trace: float, effective_dim: float) -> np.ndarray:
        # λ_i ∝ i^(-a), with a chosen so that (Σλ)² / Σλ² = effective_dim.
        ranks = np.arange(1, DIM + 1, dtype=np.float64)
        lo, hi = 0.0, 4.0
        for _ in range(60):
            a = (lo + hi) / 2
            lam = ranks**-a
            lo, hi = (a, hi) if lam.sum() ** 2 / (lam**2).sum() > effective_dim else (lo, a)
        lam = ranks**-lo * trace / (ranks**-lo).sum()
        axes, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
        return axes * np.sqrt(lam)

    mean = rng.standard_normal(DIM)
    mean *= TYPICAL_MEAN_NORM / np.linalg.norm(mean)
    return FaceDistribution(
        mean,
        factor(TYPICAL_BETWEEN_VAR, TYPICAL_BETWEEN_DIM),
        factor(TYPICAL_WITHIN_VAR, TYPICAL_WITHIN_DIM),
        "Gaussian with LFW's measured statistics (no LFW cache found)",
    )


def make_gallery(
    dist: FaceDistribution, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings (n, dim) float32, identity of each, identity centres)."""
    per_identity = 1 + rng.poisson(3, size=n)  # more than enough identities
    per_identity = per_identity[: np.searchsorted(np.cumsum(per_identity), n) + 1]
    per_identity[-1] -= per_identity.sum() - n
    centres = dist.centres(len(per_identity), rng)
    identity = np.repeat(np.arange(len(per_identity)), per_identity)
    return dist.faces(centres[identity], rng), identity, centres


def exact_top_k(gallery: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Indices of the exact k nearest (float32 matmul for candidates, float64 re-check)."""
    norms = np.einsum("ij,ij->i", gallery, gallery)
    shortlist = min(len(gallery), 4 * k + 32)
    result = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 64):
        q = queries[start : start + 64]
        d2 = norms[None, :] - 2 * q @ gallery.T
        candidates = np.argpartition(d2, shortlist - 1, axis=1)[:, :shortlist]
        for row, (probe, cand) in enumerate(zip(q, candidates, strict=True)):
            exact = np.linalg.norm(gallery[cand].astype(np.float64) - probe, axis=1)
            result[start + row] = cand[np.argsort(exact, kind="stable")[:k]]
    return result


def brute_force_latency(gallery: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Seconds per single-probe exact search over the whole array (what no index costs)."""
    norms = np.einsum("ij,ij->i", gallery, gallery)
    times = np.empty(len(queries))
    for i, q in enumerate(queries):
        t = time.perf_counter()
        d2 = norms - 2 * gallery @ q
        top = np.argpartition(d2, k)[:k]
        top[np.argsort(d2[top])]
        times[i] = time.perf_counter() - t
    return times


@dataclass
class Row:
    n: int
    variant: str
    hnsw: str
    insert_per_s: float | None
    p50_ms: float
    p99_ms: float
    recall_at_1: float
    recall_at_10: float
    identity_at_1: float
    chroma: str = "-"
    """"embedded", "server", or "-" for exact search."""
    rss_mb: float | None = None
    """Resident memory after the queries (see the module docstring)."""


def resident_mb(pid: int | str = "self") -> float:
    """VmRSS of a process, in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextlib.contextmanager
def chroma_client(kind: str, folder: Path):
    """(client, memory probe): an embedded client on ``folder``, or a ``chroma run`` on
    127.0.0.1 serving ``folder`` and an HTTP client of it."""
    import chromadb

    if kind == "embedded":
        before = resident_mb()
        client = chromadb.PersistentClient(path=str(folder), settings=chroma_settings())
        try:
            yield client, lambda: resident_mb() - before
        finally:
            client.close()
        return
    from tests.chroma_server import ChromaServer  # the test suite's server starter

    server = ChromaServer(folder / "server").start()
    try:
        client = chromadb.HttpClient(host=server.host, port=server.port, settings=chroma_settings())
        assert server.process is not None
        pid = server.process.pid
        yield client, lambda: resident_mb(pid)
    finally:
        server.stop()


def insert(client, name: str, hnsw: dict, vectors: np.ndarray, identity: np.ndarray):
    """A fresh collection holding ``vectors`` (ids = row numbers); seconds taken."""
    collection = client.create_collection(
        name=name, configuration={"hnsw": hnsw}, embedding_function=None
    )
    batch = client.get_max_batch_size()
    t = time.perf_counter()
    for start in range(0, len(vectors), batch):
        stop = min(start + batch, len(vectors))
        collection.add(
            ids=[str(i) for i in range(start, stop)],
            embeddings=vectors[start:stop],
            metadatas=[{"person_id": f"p{identity[i]}"} for i in range(start, stop)],
        )
    return collection, time.perf_counter() - t


def query(collection, queries: np.ndarray, k: int, rerank: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top-k row numbers per probe and the seconds each single query took."""
    found = np.full((len(queries), k), -1, dtype=np.int64)
    times = np.empty(len(queries))
    pool = max(4 * k, RERANK_POOL) if rerank else k
    include = ["embeddings"] if rerank else ["distances"]
    for i, q in enumerate(queries):
        t = time.perf_counter()
        result = collection.query(query_embeddings=q[None, :], n_results=pool, include=include)
        ids = np.array([int(x) for x in result["ids"][0]])
        if rerank:
            vectors = np.asarray(result["embeddings"][0], dtype=np.float64)
            order = np.argsort(np.linalg.norm(vectors - q, axis=1), kind="stable")
            ids = ids[order]
        times[i] = time.perf_counter() - t
        found[i, : min(k, len(ids))] = ids[:k]
    return found, times


@dataclass(frozen=True)
class Probes:
    """Query embeddings with their identities and their exact answers."""

    vectors: np.ndarray
    identity: np.ndarray
    exact: np.ndarray  # (queries, TOP_K) gallery rows, nearest first
    gallery_identity: np.ndarray

    def score(self, found: np.ndarray, times: np.ndarray, **row: object) -> Row:
        k = self.exact.shape[1]
        overlap = [len(set(f) & set(e)) / k for f, e in zip(found, self.exact, strict=True)]
        return Row(
            **row,  # type: ignore[arg-type]
            p50_ms=float(np.percentile(times, 50) * 1000),
            p99_ms=float(np.percentile(times, 99) * 1000),
            recall_at_1=float(np.mean(found[:, 0] == self.exact[:, 0])),
            recall_at_10=float(np.mean(overlap)),
            identity_at_1=float(np.mean(self.gallery_identity[found[:, 0]] == self.identity)),
        )


def describe(collection) -> str:
    """The HNSW settings Chroma actually applied, its defaults filled in."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Chroma: "legacy embedding fn"
        hnsw = collection.configuration.get("hnsw") or {}
    keys = ("ef_search", "ef_construction", "max_neighbors")
    return ", ".join(f"{k} {hnsw.get(k)}" for k in keys)


VARIANTS = {
    "defaults": ("Chroma defaults", {"space": "l2"}, False),
    "defaults+rerank": ("defaults + re-rank", {"space": "l2"}, True),
    "tuned": ("tuned HNSW", HNSW_TUNED, False),
    "tuned+rerank": ("tuned + exact re-rank", HNSW_TUNED, True),
}
"""name → (label, HNSW configuration, exact re-rank of a candidate pool)."""


def run_size(
    n: int,
    dist: FaceDistribution,
    n_queries: int,
    workdir: Path,
    seed: int,
    variants: list[str],
    backends: tuple[str, ...] = ("embedded",),
) -> list[Row]:
    """One gallery size: exact answers, then each Chroma configuration on the same probes."""
    rng = np.random.default_rng(seed + n)
    vectors, identity, centres = make_gallery(dist, n, rng)
    probe_identity = rng.choice(identity, size=n_queries)
    probe_vectors = dist.faces(centres[probe_identity], rng)
    t = time.perf_counter()
    probes = Probes(
        probe_vectors, probe_identity, exact_top_k(vectors, probe_vectors, TOP_K), identity
    )
    print(
        f"  N={n:,}: {len(centres):,} identities; exact top-{TOP_K} of {n_queries} probes in "
        f"{time.perf_counter() - t:.1f} s"
    )
    times = brute_force_latency(vectors, probe_vectors, TOP_K)
    rows = [
        probes.score(probes.exact, times, n=n, variant="exact (numpy)", hnsw="-", insert_per_s=None)
    ]
    for kind in backends:
        folder = Path(tempfile.mkdtemp(prefix=f"bench-search-{n}-{kind}-", dir=workdir))
        try:
            with chroma_client(kind, folder) as (client, memory):
                rows += _run_configs(client, memory, kind, n, vectors, identity, probes, variants)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def _run_configs(client, memory, kind, n, vectors, identity, probes, variants) -> list[Row]:
    """One collection per HNSW configuration, shared by its plain and re-ranked variants."""
    rows = []
    probe_vectors = probes.vectors
    for config_name in ("defaults", "tuned"):
        wanted = [v for v in VARIANTS if v in variants and v.split("+")[0] == config_name]
        if not wanted:
            continue
        hnsw = dict(VARIANTS[config_name][1])
        collection, seconds = insert(client, f"bench-{config_name}", hnsw, vectors, identity)
        rate, settings = n / seconds, describe(collection)
        print(
            f"  N={n:,} {kind}: inserted into '{config_name}' ({settings}) at {rate:,.0f}/s "
            f"({seconds:.1f} s)"
        )
        for variant in wanted:
            label, _, rerank = VARIANTS[variant]
            query(collection, probe_vectors[:20], TOP_K, rerank)  # warm up
            found, times = query(collection, probe_vectors, TOP_K, rerank)
            row = probes.score(found, times, n=n, variant=label, hnsw=settings, insert_per_s=rate)
            row.chroma, row.rss_mb = kind, memory()
            rows.append(row)
        client.delete_collection(f"bench-{config_name}")
    return rows


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'N':>9}  {'chroma':<8} {'search':<22} {'insert/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'recall@1':>8} {'recall@10':>9} {'id@1':>6} {'RSS MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        rate = f"{r.insert_per_s:,.0f}" if r.insert_per_s else "—"
        rss = f"{r.rss_mb:,.0f}" if r.rss_mb is not None else "—"
        print(
            f"{r.n:>9,}  {r.chroma:<8} {r.variant:<22} {rate:>9} {r.p50_ms:>7.2f} "
            f"{r.p99_ms:>7.2f} {r.recall_at_1:>8.3f} {r.recall_at_10:>9.3f} "
            f"{r.identity_at_1:>6.3f} {rss:>7}"
        )


def find_lfw_cache(cache_dir: Path) -> Path | None:
    found = sorted(cache_dir.glob("lfw-*.npz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--lfw", type=Path, help="LFW folder: fit the embeddings to its cache")
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="bench.lfw cache")
    parser.add_argument("--workdir", type=Path, default=None, help="where Chroma writes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--chroma",
        choices=["embedded", "server", "both"],
        default="embedded",
        help="an embedded Chroma, a `chroma run` started on 127.0.0.1, or both",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["defaults", "tuned", "tuned+rerank"],
        choices=list(VARIANTS),
    )
    args = parser.parse_args(argv)

    cache = find_lfw_cache(args.cache) if args.lfw else None
    if args.lfw and cache is None:
        print(f"no LFW embeddings under {args.cache} (run bench.lfw first): using the fallback")
    dist = fit_lfw(cache) if cache else typical_distribution(args.seed)
    print(f"embeddings: {dist.source}")
    print(
        f"queries: {args.queries} single probes, top-{TOP_K}; re-rank pool "
        f"max(4·k, {RERANK_POOL}) = {max(4 * TOP_K, RERANK_POOL)}"
    )
    rows: list[Row] = []
    started = time.perf_counter()
    for n in args.n:
        rows += run_size(
            n,
            dist,
            args.queries,
            args.workdir or Path(tempfile.gettempdir()),
            args.seed,
            args.variants,
            ("embedded", "server") if args.chroma == "both" else (args.chroma,),
        )
    print()
    print_table(rows)
    print(
        f"\n(total {time.perf_counter() - started:.0f} s; recall against exact brute force on "
        "the same probes; id@1 = top-1 face is the probe's identity)"
    )
    result = {
        "benchmark": "gallery search",
        "embeddings": dist.source,
        "queries": args.queries,
        "top_k": TOP_K,
        "rerank_pool": max(4 * TOP_K, RERANK_POOL),
        "tuned_hnsw": HNSW_TUNED,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "rows": [asdict(r) for r in rows],
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
