"""The vector search benchmark (tests/bench/vectors.py) in quick mode, in the tests'
embedded PostgreSQL: its figures are computed right, whatever they are. No timings are
asserted."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from zava_mcp import database
from zava_mcp.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "bench"))

import measure
import vectors

QUICK = str(vectors.QUICK_SIZE)


@pytest.fixture(scope="module")
def bench_env() -> Iterator[None]:
    """The benchmark's quick database lives in the tests' embedded PostgreSQL."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "ZAVA_BENCH_DATA_DIR",
            os.environ.get("ZAVA_DATA_DIR") or str(PROJECT_ROOT / ".zava" / "test-pgdata"),
        )
        yield


@pytest.fixture(scope="module")
def results(bench_env: None) -> dict[str, Any]:
    return vectors.run(quick=True)


@pytest.fixture(scope="module")
def admin_url(results: dict[str, Any]) -> str:
    return database.admin_url(measure.bench_settings(vectors.database_name(0, quick=True)))


def test_recall_counts_the_share_of_the_exact_top_k_found() -> None:
    assert vectors.recall([1, 2, 3, 4], [4, 3, 9, 8], k=4) == 0.5
    assert vectors.recall([5, 6, 7], [7, 6, 5]) == 1.0
    # Only the first k found count, and only the exact top-k is asked for.
    assert vectors.recall([9, 1, 2], [1, 2, 3], k=1) == 0.0
    assert vectors.recall([1, 9, 9], [1, 2, 3], k=1) == 1.0
    with pytest.raises(ValueError):
        vectors.recall([1], [])


def test_sized_shared_buffers_holds_the_bytes_in_whole_gib() -> None:
    assert vectors.sized_shared_buffers(0) == "1GB"
    assert vectors.sized_shared_buffers(2**30) == "1GB"
    assert vectors.sized_shared_buffers(2**30 + 1) == "2GB"
    assert vectors.sized_shared_buffers(3_900 * 2**20) == "4GB"


def test_quick_mode_leaves_the_tests_postgresql_running(results: dict[str, Any]) -> None:
    """The sized-memory pass restarts PostgreSQL: never in the tests' shared server."""
    sized = results["datasets"][QUICK]["sized_memory"]
    assert "hybrid" not in sized and "restart" in sized["skipped"]
    assert not [
        label
        for label, _ in vectors._searches(results["datasets"][QUICK])
        if "shared_buffers" in label
    ]


def test_every_recall_is_a_share(results: dict[str, Any]) -> None:
    found = results["datasets"][QUICK]
    figures = [found["plain"], *found["in_stock"].values()]
    figures += [point[name] for point in found["sweep"] for name in ("plain", "in_stock")]
    for figure in figures:
        assert 0.0 <= figure["recall_at_10"] <= 1.0
        assert 0.0 <= figure["full_rows_rate"] <= 1.0
    for figure in found["hybrid"].values():
        assert 0.0 <= figure["full_rows_rate"] <= 1.0
        assert 0.0 < figure["text_matched_share"] <= 1.0


def test_hybrid_is_measured_against_the_function_as_it_was(results: dict[str, Any]) -> None:
    found = results["datasets"][QUICK]
    assert found["before_skipped"] is None
    assert set(found["hybrid"]) == {"head_office", "seattle_in_stock"}
    for figure in found["hybrid"].values():
        same = figure["same_queries"]
        assert same["queries"] == vectors.QUICK_BEFORE_QUERIES
        assert same["before_median_ms"] > 0 and same["now_median_ms"] > 0


def test_each_phrase_gets_text_matches_now(results: dict[str, Any]) -> None:
    """Issue 12's descriptions as people type them, embedded by the real local model:
    each gets full-text matches as head office and as Seattle with in_stock_only; before,
    "waterproof electrical connectors" got none (no product holds all three words)."""
    phrases = results["phrases"]["phrases"]
    assert set(phrases) == set(vectors.PHRASES)
    for per_phrase in phrases.values():
        for key in ("head office, now", "Seattle, in_stock_only, now"):
            assert 0 < per_phrase[key]["text_matches"] <= per_phrase[key]["rows"] <= 20
    assert phrases["waterproof electrical connectors"]["head office, before"]["text_matches"] == 0


def test_the_exact_neighbours_are_those_of_a_brute_force_search(
    results: dict[str, Any], admin_url: str
) -> None:
    settings = measure.bench_settings(vectors.database_name(0, quick=True))
    corpus = vectors.Corpus(vectors.QUICK_SIZE, settings.embedding_dim, settings.embeddings.model)
    found = vectors.queries(corpus, vectors.Shapes(corpus), vectors.QUICK_QUERY_COUNT)
    exact = vectors.exact_neighbours(admin_url, corpus, found)
    with psycopg.connect(admin_url) as conn:
        register_vector(conn)
        rows = conn.execute(
            "select product_id, description_embedding from retail.product_description_embeddings"
        ).fetchall()
    product_ids = np.array([row[0] for row in rows])
    stored = np.stack([row[1].to_numpy() for row in rows])
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    for query, answer in zip(found, exact["all"], strict=True):
        similarity = stored @ (query.vector / np.linalg.norm(query.vector))
        brute_force = product_ids[np.argsort(-similarity)[: vectors.K]].tolist()
        assert vectors.recall(answer, brute_force) == 1.0
        assert vectors.recall(answer, answer) == 1.0


def test_in_stock_only_finds_only_what_seattle_has_in_stock(
    results: dict[str, Any], admin_url: str
) -> None:
    found = results["datasets"][QUICK]
    assert found["in_stock_rows_not_in_seattle_stock"] == 0
    assert 0 < found["seattle_in_stock_products"] < vectors.QUICK_SIZE
    with psycopg.connect(admin_url) as conn:
        elsewhere_only = conn.execute(
            "select count(*) from retail.inventory as stock where stock.stock_level > 0 "
            "and not exists (select from retail.inventory as seattle where seattle.store_id = 1 "
            "and seattle.product_id = stock.product_id and seattle.stock_level > 0)"
        ).fetchone()
    # The filter has something to leave out: products in stock only at other stores.
    assert elsewhere_only and elsewhere_only[0] > 0


def test_the_sweep_puts_the_functions_settings_back(
    results: dict[str, Any], admin_url: str
) -> None:
    assert vectors.search_settings(admin_url) == results["datasets"][QUICK]["search_settings"]
    assert {point["ef_search"] for point in results["datasets"][QUICK]["sweep"]} >= set(
        vectors.QUICK_EF_SWEEP
    )


def test_markdown_shows_the_figures(results: dict[str, Any]) -> None:
    text = vectors.markdown(results)
    found = results["datasets"][QUICK]
    assert text.startswith("## 3. Vector search")
    assert f"| {found['plain']['recall_at_10']:.3f} |" in text
    assert f"{found['plain']['median_ms']:.3f}" in text
    assert "ef_search" in text and "relaxed_order" in text
    assert "waterproof electrical connectors" in text
    hybrid = found["hybrid"]["head_office"]
    assert f"| {vectors._md_cell(hybrid['same_queries']['before_median_ms'])} |" in text


def test_plots_write_a_png(results: dict[str, Any], tmp_path: Path) -> None:
    paths = vectors.plots(results, tmp_path)
    assert paths
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
