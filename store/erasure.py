"""Erasure that leaves nothing: after a delete, no file of the gallery keeps what was deleted.

Deleting a row or a record is not erasing it. Measured with Chroma 1.5.9 and SQLite 3:

- **gallery.db** (SQLite, WAL mode) keeps a deleted row's bytes in the freed space of its page,
  and the write-ahead log ``gallery.db-wal`` keeps every earlier version of the page until a
  checkpoint. Hence ``PRAGMA secure_delete=ON`` on the connection (freed cells and pages are
  zeroed) and ``PRAGMA wal_checkpoint(TRUNCATE)`` after every deletion, merge, rename or notes
  edit (the zeroed pages reach the database file and the log is cut to zero bytes).
- **Chroma's chroma.sqlite3** keeps each add, vector and metadata included, in its write-ahead
  queue (``embeddings_queue``) until the HNSW segment is persisted (every ``sync_threshold`` =
  1,000 records), and its SQLite is not built with secure_delete. **The HNSW segment**
  (``<segment>/data_level0.bin``) only *marks* a deleted vector deleted; its bytes stay. Chroma
  has no compaction: ``chroma vacuum`` purges the queue and VACUUMs the SQLite file but leaves
  the HNSW files as they are. So the gallery rebuilds the collection after a deletion: drop it
  (Chroma then deletes its rows and queue entries), create it again and re-add the remaining
  embeddings from gallery.db's copy. Chroma does not delete the dropped segment's folder, so
  :func:`purge_chroma_folder` removes segment folders that ``segments`` no longer lists and
  VACUUMs chroma.sqlite3 with secure_delete on.

A Chroma server (``CHROMA_HOST``) gets the same rebuild through its API; its folder is the
operator's: stop the server and run ``python -m store.erasure PATH`` (PATH is what ``chroma run
--path`` was given) to remove the dropped segments and VACUUM its database.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

CHROMA_DATABASE = "chroma.sqlite3"
_SEGMENT_FOLDER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_BUSY_TIMEOUT_S = 30.0


class Executes(Protocol):
    """A connection to a SQLite file: ``sqlite3.Connection`` or the gallery's ``Database``."""

    def execute(self, sql: str, /) -> Any: ...


def secure_connection(db: Executes) -> None:
    """Zero what SQLite frees on this connection (deleted rows, overwritten values, free pages).

    Per connection, not stored in the file: every connection that writes must set it."""
    db.execute("PRAGMA secure_delete=ON")
    if db.execute("PRAGMA secure_delete").fetchone()[0] != 1:
        raise RuntimeError("this SQLite build cannot zero deleted content (secure_delete)")


def checkpoint_truncate(db: Executes) -> bool:
    """Copy the write-ahead log into the database file and cut the log to zero bytes.

    SQLite waits (the connection's busy timeout) for other connections' readers to move past
    the log; False when one still held an old snapshot, so the log was not cut (it is at the
    next deletion, or when the last connection closes)."""
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        log.warning("gallery.db write-ahead log not truncated: another process is reading it")
    return not busy


_HNSW_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
"""hnswlib's persisted header as Chroma 1.5 writes it (``header.bin``): version, offset of level
0, max elements, current element count, bytes per element, label offset, data offset, max
level, entry point, maxM, maxM0, M, mult, ef_construction."""


def _zero_unused_links(block: memoryview, max_links: int) -> int:
    """One neighbour list (``[count: u16][flags: u16][max_links × u32]``): zero the slots past
    ``count``; return the bytes zeroed."""
    count = min(int.from_bytes(block[:2], "little"), max_links)
    start, end = 4 + 4 * count, 4 + 4 * max_links
    if any(block[start:end]):
        block[start:end] = bytes(end - start)
        return end - start
    return 0


def _rewrite(path: Path, data: bytearray) -> None:
    with path.open("r+b") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def zero_unused_hnsw_capacity(folder: Path) -> int:
    """Zero the bytes of every HNSW segment that Chroma writes but never initialised; return
    how many were zeroed.

    Chroma writes the whole capacity of the index buffer to ``data_level0.bin``
    (``max_elements`` slots), and every neighbour list has room for ``maxM0`` (level 0, in
    ``data_level0.bin``) or ``maxM`` (upper levels, ``link_lists.bin``) neighbours of which it
    fills ``count``. The rest is memory it never initialised: bytes the process freed before,
    deleted vectors and face or person ids among them (seen in tests). Chroma never reads those
    bytes. Call it only while no client is writing the folder."""
    zeroed = 0
    for header_file in Path(folder).glob("*/header.bin"):
        data_file = header_file.with_name("data_level0.bin")
        try:
            header = _HNSW_HEADER.unpack(header_file.read_bytes()[: _HNSW_HEADER.size])
        except (OSError, struct.error):
            continue
        version, offset, _, count, per_element = header[:5]
        max_m, max_m0 = header[9], header[10]
        if version != 1 or offset != 0 or per_element <= 4 + 4 * max_m0 or not data_file.is_file():
            continue  # a layout this code does not know: leave it alone
        data = bytearray(data_file.read_bytes())
        if len(data) < count * per_element:
            continue
        view = memoryview(data)
        before = zeroed
        for i in range(count):
            zeroed += _zero_unused_links(view[i * per_element :], max_m0)
        tail = len(data) - count * per_element
        if any(view[count * per_element :]):
            view[count * per_element :] = bytes(tail)
            zeroed += tail
        del view
        if zeroed > before:
            _rewrite(data_file, data)
        zeroed += _zero_upper_links(header_file.parent, count, max_m)
    return zeroed


def _zero_upper_links(segment: Path, count: int, max_m: int) -> int:
    """``link_lists.bin``: per element with upper levels, its lists back to back; ``length.bin``
    holds each element's byte length (u32)."""
    lengths_file, links_file = segment / "length.bin", segment / "link_lists.bin"
    if not lengths_file.is_file() or not links_file.is_file():
        return 0
    lengths = lengths_file.read_bytes()
    data = bytearray(links_file.read_bytes())
    view, size, position, zeroed = memoryview(data), 4 + 4 * max_m, 0, 0
    for i in range(min(count, len(lengths) // 4)):
        length = int.from_bytes(lengths[4 * i : 4 * i + 4], "little")
        if length % size or position + length > len(data):
            return 0  # not the layout this code knows: change nothing more
        for level in range(length // size):
            zeroed += _zero_unused_links(view[position + level * size :], max_m)
        position += length
    del view
    if zeroed:
        _rewrite(links_file, data)
    return zeroed


def purge_chroma_folder(folder: Path) -> list[Path]:
    """Remove what Chroma keeps of deleted records in ``folder``; return the folders removed.

    Segment folders that ``segments`` no longer lists (left by a dropped collection) are
    deleted, then chroma.sqlite3 is VACUUMed with secure_delete on: the file is rewritten
    without its free pages, where the dropped collection's rows and queue entries lay; last, the
    HNSW files' unused capacity is zeroed. The caller makes sure no one writes meanwhile (the
    gallery closes its client first and holds its folder lock; a server must be stopped).
    """
    folder = Path(folder)
    database = folder / CHROMA_DATABASE
    if not database.is_file():
        return []
    db = sqlite3.connect(database, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    try:
        secure_connection(db)
        live = {str(r[0]) for r in db.execute("SELECT id FROM segments")}
        removed = [
            path
            for path in sorted(folder.iterdir())
            if path.is_dir() and _SEGMENT_FOLDER.match(path.name) and path.name not in live
        ]
        for path in removed:
            shutil.rmtree(path)
        db.execute("VACUUM")
    finally:
        db.close()
    zero_unused_hnsw_capacity(folder)
    return removed


def main(argv: list[str] | None = None) -> int:
    """``python -m store.erasure PATH``: purge a stopped Chroma server's folder."""
    parser = argparse.ArgumentParser(
        prog="python -m store.erasure",
        description="Remove deleted gallery embeddings from a Chroma folder (server stopped): "
        "the folders of dropped segments and the free pages of chroma.sqlite3.",
    )
    parser.add_argument("path", type=Path, help="the folder `chroma run --path` was given")
    args = parser.parse_args(argv)
    if not (args.path / CHROMA_DATABASE).is_file():
        parser.error(f"{args.path} holds no {CHROMA_DATABASE}")
    removed = purge_chroma_folder(args.path)
    print(f"removed {len(removed)} dropped segment folders; {CHROMA_DATABASE} vacuumed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
