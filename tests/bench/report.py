"""docs/benchmarks.md from the saved figures (docs/benchmarks/<family>.json).

Each family's module renders its own section (markdown) and plots (plots); this file
only puts them in order under a header that says how to run them and on what.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import measure

FAMILY_ORDER = ("overhead", "rls", "vectors", "build", "peers", "memory", "scale")
DOCUMENT = measure.PROJECT_ROOT / "docs" / "benchmarks.md"


def saved_results() -> dict[str, dict[str, Any]]:
    found = {}
    for family in FAMILY_ORDER:
        path = measure.RESULTS_DIR / f"{family}.json"
        if path.exists():
            found[family] = json.loads(path.read_text())
    return found


def write(document: Path = DOCUMENT) -> Path:
    results = saved_results()
    sections = []
    for family, figures in results.items():
        module = importlib.import_module(family)
        module.plots(figures, measure.RESULTS_DIR)
        sections.append(module.markdown(figures))
        before = measure.RESULTS_DIR / f"{family}.before.json"
        if before.exists() and hasattr(module, "compare"):
            sections.append(module.compare(json.loads(before.read_text()), figures))
    document.write_text(header(results) + "\n" + "\n".join(sections))
    return document


def header(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Scripts that print figures, never timed tests. Every figure that claims something "
        "is a ratio against a baseline measured in the same run, so that it holds on a "
        "noisy machine; absolute times stand beside it. This page is generated: "
        "`scripts/bench.sh` runs every family one after another (never side by side) and "
        "rewrites it; `scripts/bench.sh overhead` runs one family, "
        "`scripts/bench.sh report` only rewrites this page from the saved figures in "
        "`docs/benchmarks/*.json`. The benchmarks use an embedded PostgreSQL of their own "
        "under `.zava/bench-pgdata` (`ZAVA_BENCH_DATA_DIR` moves it); the large vector "
        "databases and the scale-100 sample are built once and kept "
        "there (`ZAVA_BENCH_REBUILD=1` builds them again).",
        "",
        "| family | saved at (UTC) | run s | CPU | cores | memory GiB | load during the run |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for family, figures in results.items():
        machine = figures["machine"]
        lines.append(
            f"| {family} | {figures['measured_at']} | {figures.get('run_seconds', '-')} "
            f"| {machine['cpu']} | {machine['cores']} | {machine['memory_gib']} "
            f"| {measure.load_text(figures)} |"
        )
    found = [
        (family, *target)
        for family, figures in results.items()
        if hasattr(module := importlib.import_module(family), "targets")
        for target in module.targets(figures)
    ]
    if found:
        lines += [
            "",
            "## Targets at a glance",
            "",
            "| family | target | measured | |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {family} | {target} | {measured} | {'met' if met else '**missed**'} |"
            for family, target, measured, met in found
        ]
    lines += [
        "",
        "The machine is shared: the client, the server and PostgreSQL run on the same two "
        "cores, so the throughput figures include the client's own cost.",
        "",
    ]
    return "\n".join(lines)
