"""``bench.search`` on a small synthetic gallery: an embedded Chroma and a ``chroma run`` side by
side, each row with its recall against exact search and its resident memory."""

from __future__ import annotations

import json

import pytest

from bench.search import main

pytestmark = pytest.mark.filterwarnings("ignore:legacy embedding function config")


def test_the_bench_measures_an_embedded_chroma_and_a_server(tmp_path):
    out = tmp_path / "search.json"
    main(
        [
            *("--n", "400", "--queries", "30", "--chroma", "both"),
            *("--variants", "tuned+rerank", "--workdir", str(tmp_path), "--json", str(out)),
        ]
    )
    rows = json.loads(out.read_text())["rows"]
    assert [r["chroma"] for r in rows] == ["-", "embedded", "server"]
    exact, *indexed = rows
    assert exact["recall_at_1"] == 1.0 and exact["rss_mb"] is None
    for row in indexed:
        assert row["n"] == 400 and row["insert_per_s"] > 0 and row["p99_ms"] >= row["p50_ms"]
        assert row["recall_at_1"] >= 0.95  # 400 vectors: HNSW with re-rank is all but exact
        assert row["rss_mb"] is not None
    assert indexed[1]["rss_mb"] > 10  # a whole server process
