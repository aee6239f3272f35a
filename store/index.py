"""The gallery's vector index: one Chroma collection per embedding model.

Chroma is the approximate nearest-neighbour index; the gallery's SQLite database is the source
of truth (it keeps a copy of every embedding), so the index can always be repaired or rebuilt
from it (see ``Gallery.reconcile``).

Choices made on purpose:

- **No embedding function.** We always pass our own embeddings; Chroma's default function would
  download a sentence model and embed text, which has no place here.
- **Space "l2".** The face ResNet was trained for Euclidean distance (dlib's threshold 0.6 is a
  Euclidean distance). Chroma's l2 returns *squared* distances, so whoever reads a Chroma
  distance must take its square root; the gallery does not rely on them at all — it re-ranks
  candidates by exact Euclidean distance (``Gallery.search``).
- **Tuned HNSW** (``HNSW_TUNED``): docs/reference-figures.md measured Chroma's defaults
  (ef_search 100, ef_construction 100, 16 neighbours) losing about 1 in 13 top-1 neighbours
  at 100k faces; ef_search 256, ef_construction 200 and 32 neighbours bring recall@1 to
  ≈ 0.998 for about half the insert rate. ``python -m bench.search`` measures both here.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from store.errors import CorruptStore, ModelMismatch, StoreUnavailable
from store.faults import fault_of

HNSW_TUNED: dict[str, Any] = {
    "space": "l2",
    "ef_search": 256,
    "ef_construction": 200,
    "max_neighbors": 32,
}
"""HNSW settings of every gallery collection (Chroma 1.x ``configuration={"hnsw": ...}``)."""

COLLECTION_PREFIX = "faces__"
_CHROMA_NAME_OK = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


def collection_name(model_id: str) -> str:
    """Chroma collection name for a model id: ``faces__<model_id>``, made valid when needed.

    Chroma names are 3–512 characters of ``[a-zA-Z0-9._-]`` starting and ending alphanumeric.
    When the model id has to be altered to fit, a hash of the original is appended so two
    different model ids never share a collection.
    """
    if not model_id:
        raise ValueError("model_id must not be empty")
    name = COLLECTION_PREFIX + model_id
    if _CHROMA_NAME_OK.match(name):
        return name
    cleaned = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_id).strip("._-")[:400]
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:10]
    return f"{COLLECTION_PREFIX}{cleaned}-{digest}".replace("--", "-")


def index_unreachable(server: str) -> StoreUnavailable:
    """The one sentence for a Chroma server that cannot be reached (down, or gone mid-run)."""
    return StoreUnavailable(
        f"The search index server at {server} is not reachable; nothing was changed. Check "
        f"that the Chroma server is running (`chroma run --host HOST --port PORT --path DIR`), "
        "or unset CHROMA_HOST to use the embedded index."
    )


def _unreachable(exc: BaseException) -> bool:
    """A transport failure (refused, reset, timed out) or chromadb's heartbeat refusal."""
    import httpx

    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    return (
        isinstance(exc, ValueError) and "could not connect to a chroma server" in str(exc).lower()
    )


def _server_of(client: Any) -> str | None:
    """``host:port`` of an HTTP client; None for an embedded one."""
    try:
        settings = client.get_settings()
    except Exception:
        return None
    host = getattr(settings, "chroma_server_host", None)
    return f"{host}:{settings.chroma_server_http_port}" if host else None


def _translated(exc: BaseException, server: str | None) -> Exception | None:
    """The store error ``exc`` from a Chroma call stands for, or None when it is none."""
    if server is not None and _unreachable(exc):
        return index_unreachable(server)
    return fault_of(exc, "the search index")


class _CollectionCalls:
    """A Chroma collection whose calls fail with a sentence: a server gone mid-run raises
    ``StoreUnavailable`` (not httpx's ``ConnectError``), a full disk ``StorageFull``; other
    errors pass through. Every ``EmbeddingIndex`` method reaches Chroma through it."""

    def __init__(self, collection: Any, server: str | None) -> None:
        self._collection = collection
        self._server = server

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._collection, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return found(*args, **kwargs)
            except Exception as exc:
                fault = _translated(exc, self._server)
                if fault is None:
                    raise
                raise fault from exc

        return call


def chroma_settings() -> Any:
    """Client settings: no telemetry (the app runs offline and reports nothing)."""
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


_ALIASES_LOCK = threading.Lock()
_ALIASES_IN_USE: dict[int, str] = {}
"""id(client) → the path string its embedded client was opened with; see ``connect``."""


def _private_alias(path: Path) -> str:
    """``path`` spelt so that no other open client in this process uses the same string:
    ``<path>``, ``<path>/.``, ``<path>/./.`` … (the shortest free one)."""
    taken = set(_ALIASES_IN_USE.values())
    alias = str(path)
    while alias in taken:
        alias += f"{os.sep}."
    return alias


def connect(path: Path | None = None, host: str | None = None, port: int = 8000) -> Any:
    """An embedded client under ``path``, or an HTTP client of the server at ``host:port``.

    Each embedded client is private to its caller. Chroma shares one client (and one in-memory
    HNSW index) between every ``PersistentClient`` of the same path string in a process, so
    closing and reopening one could not reload the index while another ``Gallery`` (the app
    keeps one per model) held it open; ``Gallery`` must reload after another process writes
    (see ``store.db.sync_index``). Spelling the path differently per client (``<path>/.``)
    gives each its own. Close it with :func:`disconnect`.
    """
    import chromadb

    if host:
        try:
            return chromadb.HttpClient(host=host, port=port, settings=chroma_settings())
        except Exception as exc:  # chromadb raises ValueError / ConnectionError variants
            raise index_unreachable(f"{host}:{port}") from exc
    if path is None:
        raise ValueError("connect() needs a path (embedded) or a host (server)")
    path.mkdir(parents=True, exist_ok=True)
    try:
        with _ALIASES_LOCK:
            alias = _private_alias(path)
            client = chromadb.PersistentClient(path=alias, settings=chroma_settings())
            _ALIASES_IN_USE[id(client)] = alias
        return client
    except Exception as exc:
        raise CorruptStore(
            f"the Chroma index at {path} cannot be opened ({exc}). The embeddings are also "
            "kept in gallery.db: move that Chroma folder aside and reopen the gallery to "
            "rebuild it, or import a gallery export into a fresh folder."
        ) from exc


def disconnect(client: Any) -> None:
    """Close a client from :func:`connect` (idempotent; None is allowed)."""
    if client is None:
        return
    try:
        client.close()
    finally:
        with _ALIASES_LOCK:
            _ALIASES_IN_USE.pop(id(client), None)


class EmbeddingIndex:
    """The Chroma collection holding one model's face embeddings, ids = face ids.

    Each record's metadata carries ``person_id`` and ``model_id`` so the collection can be read
    on its own, and the collection's metadata names the model, its dimension and the gallery it
    belongs to: a gallery never adopts a collection of another model or of another gallery.
    """

    def __init__(
        self,
        client: Any,
        model_id: str,
        embedding_dim: int,
        gallery_id: str,
        location: str,
        create: bool = True,
    ) -> None:
        self.client = client
        self.model_id = model_id
        self.embedding_dim = embedding_dim
        self.name = collection_name(model_id)
        self.location = location
        from chromadb.errors import NotFoundError

        metadata = {"model_id": model_id, "embedding_dim": embedding_dim, "gallery_id": gallery_id}
        try:
            if create:
                self.collection = client.get_or_create_collection(
                    name=self.name,
                    configuration={"hnsw": dict(HNSW_TUNED)},
                    metadata=metadata,
                    embedding_function=None,
                )
            else:
                self.collection = client.get_collection(name=self.name, embedding_function=None)
            self.batch_size = int(client.get_max_batch_size())
        except NotFoundError as exc:
            raise KeyError(self.name) from exc
        except Exception as exc:
            server = _server_of(client)
            if server is not None and _unreachable(exc):
                raise index_unreachable(server) from exc
            raise StoreUnavailable(
                f"cannot open Chroma collection {self.name!r} at {location}: {exc}"
            ) from exc
        self.collection = _CollectionCalls(self.collection, _server_of(client))
        found = dict(self.collection.metadata or {})
        if found.get("model_id") != model_id or int(found.get("embedding_dim", -1)) != (
            embedding_dim
        ):
            raise ModelMismatch(
                f"Chroma collection {self.name!r} at {location} holds model "
                f"{found.get('model_id')!r} ({found.get('embedding_dim')}-d), not {model_id!r} "
                f"({embedding_dim}-d); embeddings of different models are never mixed."
            )
        if found.get("gallery_id") != gallery_id:
            raise CorruptStore(
                f"Chroma collection {self.name!r} at {location} belongs to another gallery "
                f"({found.get('gallery_id')!r}, this one is {gallery_id!r}). Point CHROMA_HOST "
                "at a server of its own, or delete that collection if it is stale; this "
                "gallery's embeddings are rebuilt from gallery.db on the next open."
            )

    def count(self) -> int:
        return int(self.collection.count())

    def _batches(self, n: int) -> Iterator[slice]:
        for start in range(0, n, self.batch_size):
            yield slice(start, min(start + self.batch_size, n))

    def add(self, ids: Sequence[str], embeddings: np.ndarray, person_ids: Sequence[str]) -> None:
        """Insert records, in batches no larger than the client allows."""
        ids, person_ids = list(ids), list(person_ids)
        embeddings = np.asarray(embeddings, dtype=np.float32).reshape(len(ids), -1)
        for part in self._batches(len(ids)):
            self.collection.add(
                ids=list(ids[part]),
                embeddings=embeddings[part],
                metadatas=[{"person_id": p, "model_id": self.model_id} for p in person_ids[part]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for part in self._batches(len(ids)):
            self.collection.delete(ids=list(ids[part]))

    def drop(self) -> None:
        """Delete the whole collection: Chroma removes its records and their queue entries
        (``store.erasure`` explains why a deletion ends with a drop and a rebuild)."""
        self.client.delete_collection(self.name)

    def set_person(self, ids: Sequence[str], person_id: str) -> None:
        """Point records at another person (after a merge)."""
        ids = list(ids)
        for part in self._batches(len(ids)):
            chunk = list(ids[part])
            self.collection.update(
                ids=chunk,
                metadatas=[{"person_id": person_id, "model_id": self.model_id}] * len(chunk),
            )

    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the collection holds."""
        ids = list(ids)
        found: set[str] = set()
        for part in self._batches(len(ids)):
            found.update(self.collection.get(ids=list(ids[part]), include=[])["ids"])
        return found

    def all_records(self) -> dict[str, str | None]:
        """Every record id with the person id in its metadata, read page by page."""
        records: dict[str, str | None] = {}
        offset = 0
        while True:
            page = self.collection.get(include=["metadatas"], limit=self.batch_size, offset=offset)
            for rid, meta in zip(page["ids"], page["metadatas"] or [], strict=False):
                records[rid] = (meta or {}).get("person_id")
            if len(page["ids"]) < self.batch_size:
                return records
            offset += len(page["ids"])

    def candidates(self, embedding: np.ndarray, n: int) -> tuple[list[str], np.ndarray]:
        """Up to ``n`` approximate nearest records: their ids and stored embeddings.

        Chroma answers fewer than ``n`` (no error) when the collection holds fewer.
        """
        result = self.collection.query(
            query_embeddings=np.asarray(embedding, np.float32).reshape(1, -1),
            n_results=n,
            include=["embeddings"],
        )
        ids = list(result["ids"][0])
        if not ids:
            return [], np.zeros((0, self.embedding_dim), np.float32)
        vectors = np.asarray(result["embeddings"][0], dtype=np.float32).reshape(len(ids), -1)
        return ids, vectors
