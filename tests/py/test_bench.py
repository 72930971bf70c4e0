"""Smoke tests of the benchmarks' shared module, the overhead and build families (quick
mode) and the report, in the tests' embedded PostgreSQL. They check what makes the
figures trustworthy, never a time: statistics computed right, every way of running a
query returning the same rows, every call answered, the report rendering what was
measured."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from zava_mcp.config import PROJECT_ROOT

TESTS_DATA_DIR = os.environ.get("ZAVA_DATA_DIR") or str(PROJECT_ROOT / ".zava" / "test-pgdata")


@pytest.fixture(autouse=True)
def bench_in_the_tests_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # Quick runs build their databases in the tests' PostgreSQL, not the benchmarks' own.
    monkeypatch.setenv("ZAVA_BENCH_DATA_DIR", TESTS_DATA_DIR)


def test_timings_statistics_on_known_samples():
    import measure

    timings = measure.Timings([i / 1000 for i in range(1, 101)], wall_seconds=2.0)
    assert timings.median_ms == pytest.approx(50.5)
    assert timings.percentile_ms(95) == pytest.approx(95)
    assert timings.percentile_ms(99) == pytest.approx(99)
    assert timings.percentile_ms(100) == pytest.approx(100)
    assert timings.throughput == pytest.approx(50)
    assert measure.ratio(3, 2) == 1.5


def test_cpu_counters_see_this_process_and_the_database(seeded):
    import measure
    import psycopg

    settings, url = seeded
    before = measure.cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert measure.cpu_seconds(os.getpid()) > before
    with psycopg.connect(url) as conn:
        (backend,) = conn.execute("select pg_backend_pid()").fetchone()
        backends_before = measure.backend_cpu_by_process(settings.database_name)
        conn.execute("select count(*) from generate_series(1, 3000000)").fetchone()
        backends_after = measure.backend_cpu_by_process(settings.database_name)
        assert backends_after[backend] > backends_before[backend]
        assert measure.cpu_used_between(backends_before, backends_after) > 0
    # A backend that exits takes nothing away from the CPU counted (it took its whole
    # lifetime before), and one that starts counts from zero.
    deadline = time.monotonic() + 10
    while backend in (ended := measure.backend_cpu_by_process(settings.database_name)):
        assert time.monotonic() < deadline, "the closed connection's backend did not exit"
        time.sleep(0.05)
    assert measure.cpu_used_between(backends_after, ended) >= 0
    assert measure.cpu_used_between({}, {backend: 0.5}) == 0.5


@pytest.fixture(scope="module")
def overhead_results() -> dict[str, Any]:
    import overhead

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZAVA_BENCH_DATA_DIR", TESTS_DATA_DIR)
        return overhead.run(quick=True)


def test_overhead_answers_every_call_at_every_level(overhead_results):
    import overhead

    ways = overhead_results["queries"]
    assert set(ways) == set(overhead.QUERIES)
    for figures in [*ways.values(), {"noop": overhead_results["noop"]}]:
        for levels in figures.values():
            assert [level["concurrency"] for level in levels] == list(overhead.QUICK_CONCURRENCY)
            for level in levels:
                assert level["errors"] == 0
                assert level["calls"] == overhead_results["calls_per_level"]
                assert 0 < level["median_ms"] <= level["p95_ms"] <= level["p99_ms"]
                # Each figure is the median of the rounds, every one of them measured.
                each_round = level["rounds_throughput_per_s"]
                assert len(each_round) == overhead.QUICK_ROUNDS
                assert level["throughput_per_s"] == round(statistics.median(each_round), 3)
    # The three ways agreed on the rows (run() refuses to time them otherwise).
    assert overhead_results["rows_returned"] == {
        "select 1": 1,
        "top 10 products last quarter": 10,
        "100 products": 100,
    }


def test_overhead_measures_cpu_of_server_database_and_client(overhead_results):
    mcp_level = overhead_results["queries"]["select 1"]["mcp"][0]
    assert set(mcp_level["cpu_ms_per_call"]) == {"server", "postgres", "client"}
    assert mcp_level["cpu_ms_per_call"]["server"] > 0
    assert overhead_results["memory"]["zava idle"]["rss_kib"] > 0


def test_overhead_report_shows_the_figures(overhead_results, tmp_path: Path):
    import overhead

    text = overhead.markdown(json.loads(json.dumps(overhead_results)))
    first = overhead_results["queries"]["select 1"]["mcp"][0]
    assert "## 1. Tool-call overhead" in text
    assert f"| mcp | 1 | {first['median_ms']} |" in text
    # Quick mode measures no 32 clients, so that target is not claimed.
    assert "throughput at 32 clients" not in text
    assert "adds ≤ 2 ms at the median" in text
    assert [path.name for path in overhead.plots(overhead_results, tmp_path)] == ["overhead.png"]
    assert (tmp_path / "overhead.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_overhead_runs_merge_and_compare_with_a_baseline(overhead_results):
    import copy

    import measure
    import overhead

    first = json.loads(json.dumps(overhead_results))
    first.update(measured_at="2026-12-01T00:00:00+00:00", machine=measure.machine())
    second = copy.deepcopy(first)
    for levels in [second["noop"], *(w for q in second["queries"].values() for w in q.values())]:
        for level in levels:
            level["median_ms"] *= 3
    merged = overhead.merge_runs([first, second])
    assert len(merged["runs"]) == 2
    one = merged["queries"]["select 1"]["mcp"][0]
    assert one["median_ms"] == pytest.approx(
        first["queries"]["select 1"]["mcp"][0]["median_ms"] * 2, rel=1e-3
    )
    assert one["calls"] == 2 * overhead_results["calls_per_level"]
    # Against a baseline twice as fast, the current medians are flagged as worse.
    text = overhead.compare(merged, first)
    assert "### Before and after" in text and "2 runs:" in text
    assert f"| **{first['queries']['select 1']['mcp'][0]['median_ms']}** |" not in text
    text = overhead.compare(first, merged)
    assert f"| **{one['median_ms']}** |" in text
    assert all(finding in text for finding in overhead.BEFORE_AFTER_FINDINGS)


def test_load_sampler_reads_the_load_while_a_block_runs():
    import time

    import measure

    with measure.LoadSampler(every=0.01) as load:
        time.sleep(0.05)
    summary = load.summary()
    assert summary["samples"] >= 2
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert "during the run" in measure.load_text({"load_during": summary, "machine": {"cores": 2}})


def test_build_family_builds_and_embeds_in_quick_mode():
    import build

    results = build.run(quick=True)
    smaller, larger = results["builds"]
    assert smaller["scale"] < larger["scale"]
    assert smaller["rows"]["products"] == larger["rows"]["products"] == 442
    assert smaller["rows"]["orders"] < larger["rows"]["orders"]
    assert results["embed_catalog"]["products"] == 442
    assert [row["batch_size"] for row in results["embedding_throughput"]] == list(
        build.QUICK_BATCH_SIZES
    )
    assert all(row["texts_per_s"] > 0 for row in results["embedding_throughput"])
    text = build.markdown(results)
    assert f"| {smaller['scale']:g} | {smaller['rows']['customers']} |" in text


def test_report_puts_saved_families_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import measure
    import report

    figures = {"machine": measure.machine(), "measured_at": "2026-12-01T00:00:00+00:00"}
    monkeypatch.setattr(measure, "RESULTS_DIR", tmp_path)
    build_results = {
        **figures,
        "builds": [
            {
                "scale": 1.0,
                "rows": {"customers": 1, "orders": 2, "order_items": 3},
                "schema_seconds": 0.1,
                "seed_seconds": 1.0,
                "total_seconds": 1.1,
                "vs_first_scale": 1.0,
                "database_mib": 9.0,
                "steps": {"10_stores": 0.01},
            }
        ],
        "embedding_throughput": [],
        "embed_catalog": {"products": 442, "seconds": 1.0, "products_per_s": 442.0},
    }
    (tmp_path / "build.json").write_text(json.dumps(build_results))
    (tmp_path / "build.quick.json").write_text("not read")
    written = report.write(tmp_path / "benchmarks.md")
    text = written.read_text()
    assert text.startswith("# Benchmarks")
    assert "## 4. Build and embed" in text
    assert "Scale 1 build ≤ 60 s: **1.1 s — met**" in text
