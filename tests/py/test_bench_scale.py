"""Smoke test of the scale benchmark (tests/bench/scale.py) in quick mode, in the tests'
embedded PostgreSQL: tiny scales, the large one built afresh. It checks that the figures
the report needs are there and fair (every seed step timed, every retail table and index
sized, every analytic query measured in every variant at both scales with as many rows
through run_query as in plain SQL), never a time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from zava_mcp.config import PROJECT_ROOT
from zava_mcp.seed import seed_steps

TESTS_DATA_DIR = os.environ.get("ZAVA_DATA_DIR") or str(PROJECT_ROOT / ".zava" / "test-pgdata")


@pytest.fixture(autouse=True)
def bench_in_the_tests_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmark builds its quick databases in the tests' PostgreSQL, not the
    # benchmarks' own.
    monkeypatch.setenv("ZAVA_BENCH_DATA_DIR", TESTS_DATA_DIR)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZAVA_BENCH_DATA_DIR", TESTS_DATA_DIR)
        import scale

        return scale.run(quick=True)


def test_the_build_times_every_seed_step(results: dict[str, Any]) -> None:
    import scale

    build = results["build"]
    assert build["scale"] == scale.QUICK_SCALE
    assert not build["cached"], "quick mode builds the large database afresh"
    assert list(build["steps"]) == [step.stem for step in seed_steps()]
    assert build["vacuum_analyze_seconds"] >= 0
    assert build["total_seconds"] >= build["seed_seconds"]
    assert build["rows"]["order_items"] > build["rows"]["orders"] > 0


def test_the_database_is_kept_and_found_again(results: dict[str, Any]) -> None:
    import scale

    *_, record = scale.dataset(scale.QUICK_SCALE, quick=True, rebuild=False)
    assert record["cached"]
    assert record["steps"] == results["build"]["steps"]


def test_every_table_and_index_is_sized_at_both_scales(results: dict[str, Any]) -> None:
    large, baseline = f"{results['scale']:g}", f"{results['baseline_scale']:g}"
    for found in (results["sizes"][large], results["sizes"][baseline]):
        tables = {table["table"]: table for table in found["tables"]}
        assert {"orders", "order_items", "customers", "inventory"} <= set(tables)
        for table in tables.values():
            assert table["total_bytes"] >= table["heap_bytes"] + table["indexes_bytes"]
        indexes = {index["index"] for index in found["indexes"]}
        assert "order_items_store_id_product_id_covering_idx" in indexes
        assert found["database_bytes"] > sum(table["total_bytes"] for table in tables.values())
        assert found["settings"]["work_mem"]
    small = {t["table"]: t["heap_bytes"] for t in results["sizes"][baseline]["tables"]}
    big = {t["table"]: t["heap_bytes"] for t in results["sizes"][large]["tables"]}
    assert big["order_items"] > small["order_items"], "the larger scale has more order lines"


def test_every_query_is_measured_in_every_variant_at_both_scales(results: dict[str, Any]) -> None:
    import rls
    import scale

    assert list(results["queries"]) == [query.name for query in rls.QUERIES]
    for name, figures in results["queries"].items():
        for each in (figures["median_ms"], figures["row_counts"], figures["plans"]):
            assert set(each) == {f"{results['scale']:g}", f"{results['baseline_scale']:g}"}
        for medians in figures["median_ms"].values():
            assert list(medians) == list(scale.VARIANT_NOTES), name
            assert all(value > 0 for value in medians.values()), name
        assert all(figures["same_row_counts"].values()), name
        assert set(figures["large_vs_baseline"]) == set(scale.VARIANT_NOTES)
        for ratios in figures["run_query_vs_plain"].values():
            assert set(ratios) == set(scale.RUN_QUERY_PAIRS)
    monthly = results["queries"]["monthly revenue by store"]["row_counts"]
    for counts in monthly.values():
        assert counts["head_office"] > counts["manager"] > 0, "head office sees more stores"


def test_head_office_is_measured_at_both_work_mem_settings(results: dict[str, Any]) -> None:
    import rls
    import scale

    assert list(results["work_mem"]) == [query.name for query in rls.QUERIES]
    for name, figures in results["work_mem"].items():
        assert set(figures["median_ms"]) == {"cluster", scale.WORK_MEM_TRIED}, name
        assert figures["tried_vs_cluster"] > 0, name
        plans = results["queries"][name]["plans"][f"{results['scale']:g}"]
        assert f"no_filter_plain, work_mem {scale.WORK_MEM_TRIED}" in plans, name


def test_markdown_renders_the_figures(results: dict[str, Any]) -> None:
    import scale

    results = {**results, "machine": {"memory_gib": 8.0}}
    text = scale.markdown(results)
    large = f"{results['scale']:g}"
    assert text.startswith(f"## Scale {large}:")
    assert f"**{results['build']['total_seconds']}**" in text
    for name, figures in results["queries"].items():
        median = figures["median_ms"][large]["head_office"]
        assert f"| {name} | `head_office` |" in text
        # Whole milliseconds from 100 ms up, one decimal below.
        shown = f"{median:,.0f}" if median >= 100 else f"{median:.1f}"
        assert f"| {shown} |" in text
    assert "every query returned as many rows at both scales" in text
    assert "### What a deployment at this size needs" in text


def test_plots_draw_the_latencies(results: dict[str, Any], tmp_path: Path) -> None:
    import scale

    (path,) = scale.plots(results, tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")
