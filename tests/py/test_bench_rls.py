"""Smoke test of the row level security benchmark (tests/bench/rls.py) in quick mode, in
the tests' embedded PostgreSQL. It checks what makes the figures fair, never a time: the
row level security variant returns the same rows as the hand-written filter, head office
the same as the unfiltered owner, and the reference design the same as ours."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from zava_mcp.config import PROJECT_ROOT

BENCH_DIR = PROJECT_ROOT / "tests" / "bench"


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        # The benchmark builds its quick database in the tests' PostgreSQL, not the
        # benchmarks' own.
        patch.setenv(
            "ZAVA_BENCH_DATA_DIR",
            os.environ.get("ZAVA_DATA_DIR") or str(PROJECT_ROOT / ".zava" / "test-pgdata"),
        )
        patch.syspath_prepend(str(BENCH_DIR))
        import rls

        return rls.run(quick=True)


def test_every_query_was_measured(results: dict[str, Any]) -> None:
    import rls

    assert list(results["queries"]) == [query.name for query in rls.QUERIES]


def test_rls_returns_the_rows_of_the_hand_written_filter(results: dict[str, Any]) -> None:
    for name, figures in results["queries"].items():
        assert figures["same_rows"]["rls = hand_written"], name
        assert figures["same_rows"]["rls_plain rows = rls rows"], name
        assert figures["same_rows"]["hand_written_plain rows = hand_written rows"], name
        assert figures["same_rows"]["unprepared rows = plain rows"], name
        assert figures["row_counts"]["rls"] > 0, f"{name}: Seattle sees no rows, nothing compared"


def test_head_office_returns_the_rows_of_no_filter(results: dict[str, Any]) -> None:
    for name, figures in results["queries"].items():
        assert figures["same_rows"]["head_office = no_filter"], name
        assert figures["same_rows"]["no_filter_plain rows = no_filter rows"], name
    monthly = results["queries"]["monthly revenue by store"]["row_counts"]
    assert monthly["head_office"] > monthly["rls"], "head office sees more months than a store"


def test_the_reference_design_returns_the_same_rows(results: dict[str, Any]) -> None:
    for name, figures in results["queries"].items():
        assert figures["same_rows"]["reference = rls"], name
        assert figures["same_rows"]["reference_head_office = head_office"], name


def test_markdown_renders_the_figures(results: dict[str, Any]) -> None:
    import rls

    text = rls.markdown(results)
    assert text.startswith("## 2. Row level security")
    for name, figures in results["queries"].items():
        assert f"| {name} | {figures['timings']['rls']['median_ms']:.1f} |" in text
        assert f"{figures['ratios']['rls_vs_hand_written']:.2f}" in text
    assert "returned the same rows for every query" in text


def test_plots_draw_the_ratios(results: dict[str, Any], tmp_path: Path) -> None:
    import rls

    (path,) = rls.plots(results, tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_compare_flags_ratios_worse_than_the_baseline(results: dict[str, Any]) -> None:
    import copy

    import rls

    results = copy.deepcopy(results)
    results["measured_at"] = "2026-12-01T00:00:00+00:00"
    results["machine"] = {"load_average": [1.0, 1.0, 1.0], "cores": 2}
    baseline = copy.deepcopy(results)
    for figures in baseline["queries"].values():
        figures["ratios"] = {name: value / 2 for name, value in figures["ratios"].items()}
    text = rls.compare(baseline, results)
    assert "### Before and after" in text
    for name, figures in results["queries"].items():
        assert f"| **{figures['ratios']['rls_vs_hand_written']:.2f}** |" in text, name
    assert "**" not in rls.compare(results, results).split("|", 1)[1].split("\n- ")[0]
