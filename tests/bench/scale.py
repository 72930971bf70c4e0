"""Family 7: the sample at scale 100 (about 20 million orders and 40 million order lines).

- The build: `db reset` at scale 100 in a database of its own (zava_bench_scale_100), each
  seed step timed, then `vacuum analyze` as the other benchmark databases get it, with
  the rows it made. The database is kept (a marker comment records how it was built and
  what the build cost) and reused unless ZAVA_BENCH_REBUILD=1; the figures then come from
  when it was built. `python tests/bench/scale.py` builds it ahead of a run.
- The sizes: the database, each retail table (heap, its indexes, everything) and each of
  their indexes, with the PostgreSQL settings that decide what stays in memory.
- The queries: the row level security family's analytic queries (rls.QUERIES), each as
  head office and as Seattle's manager through mcp.run_query as the bound principal
  (rls.Caller.full_path: the principal's own login role, begin read only, run_query,
  rollback), and as plain SQL (no_filter_plain: the administrator's owner session, no row
  level security; hand_written_plain: the owner's query with a hand-written store filter),
  a few calls each in alternating rounds, at scale 100 and on the scale-1 bench database
  (zava_bench, measure.sample_database) in the same run. Ratios are scale 100 against
  scale 1, and run_query against plain SQL at each scale.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import measure
import psycopg
import rls
from psycopg import sql

from zava_mcp import database, schema
from zava_mcp.config import Settings
from zava_mcp.seed import SEED_DIR, SEEDED_TABLES, seed, seed_steps

SCALE = 100.0
BASELINE_SCALE = 1.0
QUICK_SCALE = 0.05
QUICK_BASELINE_SCALE = 0.02
MARKER_PREFIX = "zava-mcp bench scale: "
RANDOM_SEED = 42
RETAIL_TABLES = (*SEEDED_TABLES, "product_description_embeddings")


def database_name(scale: float, quick: bool) -> str:
    return "zava_bench_scale_quick" if quick else f"zava_bench_scale_{scale:g}".replace(".", "_")


def seed_fingerprint() -> str:
    """A fingerprint of the seed's SQL (its comment lines left out) and catalog: when it
    changes, the data are rebuilt."""
    digest = hashlib.sha256()
    for path in seed_steps():
        digest.update(path.name.encode())
        for line in path.read_bytes().splitlines():
            if not line.lstrip().startswith(b"--"):
                digest.update(line + b"\n")
    for path in sorted((SEED_DIR / "catalog").glob("*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def dataset(scale: float, quick: bool, rebuild: bool) -> tuple[Settings, str, dict[str, Any]]:
    """The database at `scale`: its settings, admin DSN and build record, found cached
    (the schema applied again, so changed functions and policies are measured) or built
    now."""
    settings = measure.bench_settings(database_name(scale, quick))
    wanted = {"scale": scale, "random_seed": RANDOM_SEED, "seed": seed_fingerprint()}
    if not rebuild and measure.database_exists(settings):
        url = database.admin_url(settings)
        record = measure.database_marker(url, MARKER_PREFIX)
        if record and {key: record.get(key) for key in wanted} == wanted:
            # What `db init` costs an existing database of this size (an upgrade: indexes
            # whose definition changed are built again).
            started = time.perf_counter()
            schema.build(url, settings)
            applied = round(time.perf_counter() - started, 2)
            print(f"schema applied to the kept database: {applied:.1f} s", flush=True)
            return settings, url, {**record, "cached": True, "schema_applied_seconds": applied}
    print(f"building the sample at scale {scale:g} in {settings.database_name} ...", flush=True)
    with measure.LoadSampler(every=15) as load:
        record = {**wanted, **build(settings, scale)}
    record["load_during_build"] = load.summary()
    record["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    url = database.admin_url(settings)
    measure.set_database_marker(url, settings, MARKER_PREFIX, record)
    return settings, url, {**record, "cached": False}


def build(settings: Settings, scale: float) -> dict[str, Any]:
    """`db reset` at `scale` (schema, then the seed, each step timed and printed as it
    ends), then `vacuum analyze` of the whole database."""
    started = time.perf_counter()
    url = measure.fresh_database(settings)
    schema_seconds = time.perf_counter() - started
    print(f"  schema: {schema_seconds:.1f} s", flush=True)
    steps: dict[str, float] = {}

    def step_done(step: str, seconds: float) -> None:
        steps[step] = round(seconds, 2)
        elapsed = time.perf_counter() - started
        print(f"  seed {step}: {seconds:.1f} s ({elapsed:.0f} s since the start)", flush=True)

    report = seed(url, scale=scale, random_seed=RANDOM_SEED, settings=settings, on_step=step_done)
    vacuum_started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    vacuum_seconds = time.perf_counter() - vacuum_started
    print(f"  vacuum analyze: {vacuum_seconds:.1f} s", flush=True)
    return {
        "schema_seconds": round(schema_seconds, 2),
        # The seed's own total includes its commit and the principals' login roles.
        "seed_seconds": round(report.seconds, 2),
        "steps": steps,
        "vacuum_analyze_seconds": round(vacuum_seconds, 2),
        "total_seconds": round(schema_seconds + report.seconds + vacuum_seconds, 2),
        "rows": report.counts,
    }


# --- sizes -----------------------------------------------------------------------------

# The settings that decide what stays in memory and how the analytic queries run.
SETTINGS_SHOWN = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_parallel_workers_per_gather",
    "max_wal_size",
    "random_page_cost",
    "jit",
)


def sizes(url: str) -> dict[str, Any]:
    """The database's size, each retail table's (heap, indexes, all) and each index's, in
    bytes, with the settings named in SETTINGS_SHOWN."""
    with psycopg.connect(url) as conn:
        database_bytes = conn.execute("select pg_database_size(current_database())").fetchone()
        tables = conn.execute(
            "select c.relname, pg_relation_size(c.oid), pg_indexes_size(c.oid), "
            "pg_total_relation_size(c.oid) "
            "from pg_class as c where c.relnamespace = 'retail'::regnamespace "
            "and c.relkind in ('r', 'p') order by pg_total_relation_size(c.oid) desc, c.relname"
        ).fetchall()
        indexes = conn.execute(
            "select i.relname, t.relname, pg_relation_size(i.oid), "
            "pg_get_indexdef(i.oid) "
            "from pg_index as x join pg_class as i on i.oid = x.indexrelid "
            "join pg_class as t on t.oid = x.indrelid "
            "where t.relnamespace = 'retail'::regnamespace "
            "order by pg_relation_size(i.oid) desc, i.relname"
        ).fetchall()
        settings = conn.execute(
            "select name, current_setting(name) from unnest(%s::text[]) as name",
            (list(SETTINGS_SHOWN),),
        ).fetchall()
    assert database_bytes is not None
    return {
        "database_bytes": database_bytes[0],
        "tables": [
            {"table": name, "heap_bytes": heap, "indexes_bytes": index, "total_bytes": total}
            for name, heap, index, total in tables
        ],
        "indexes": [
            {"index": name, "table": table, "bytes": size, "definition": definition}
            for name, table, size, definition in indexes
        ],
        "settings": dict(settings),
    }


# --- the analytic queries ----------------------------------------------------------------

VARIANT_NOTES = {
    "head_office": "head office through `mcp.run_query`, as the server calls it: the "
    "principal's own login role, `begin read only`, `mcp.run_query`, rollback (every store)",
    "no_filter_plain": "the same query as plain SQL by the owner (the administrator's session "
    "after `set role`): no row level security, no cursor",
    "manager": "Seattle's manager through `mcp.run_query`, the same way (row level security "
    "keeps store 1)",
    "hand_written_plain": "the query with a hand-written `store_id = 1` on each store-scoped "
    "table (for top 10 on orders only, as in the row level security family), as plain SQL "
    "by the owner",
}
# run_query against plain SQL: (through run_query, plain SQL), at each scale.
RUN_QUERY_PAIRS = {
    "head_office_vs_no_filter_plain": ("head_office", "no_filter_plain"),
    "manager_vs_hand_written_plain": ("manager", "hand_written_plain"),
}


def variants(caller: rls.Caller, query: rls.Query) -> dict[str, rls.Call]:
    unfiltered, filtered = query.unfiltered(), query.hand_written(rls.SEATTLE_STORE_ID)
    return {
        "head_office": lambda: caller.full_path(measure.HEAD_OFFICE, unfiltered),
        "no_filter_plain": lambda: caller.owner_plain(unfiltered),
        "manager": lambda: caller.full_path(measure.SEATTLE, unfiltered),
        "hand_written_plain": lambda: caller.owner_plain(filtered),
    }


def _row_count(answer: Any) -> int:
    return len(answer["rows"]) if isinstance(answer, dict) else len(answer)


def plan_summary(
    url: str, settings: Settings, text: str, work_mem: str | None = None
) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the text as plain SQL by the owner (with work_mem set
    for it, when given): its time, the parallel workers, the pages read from shared
    buffers or beyond, and the temporary files its sorts and hashes wrote (work_mem too
    small)."""
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(settings.owner_role)))
        if work_mem:
            conn.execute("select set_config('work_mem', %s, true)", (work_mem,))
        found = conn.execute(
            sql.SQL("explain (analyze, buffers, format json) {}").format(sql.SQL(text))  # type: ignore[arg-type]
        ).fetchone()
    assert found is not None
    top = found[0][0]
    plan = top["Plan"]
    nodes: list[str] = []
    planned = launched = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal planned, launched
        nodes.append(node["Node Type"])
        planned += node.get("Workers Planned", 0)
        launched += node.get("Workers Launched", 0)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return {
        "execution_ms": round(top["Execution Time"], 1),
        "workers_planned": planned,
        "workers_launched": launched,
        "shared_hit_blocks": plan.get("Shared Hit Blocks", 0),
        "shared_read_blocks": plan.get("Shared Read Blocks", 0),
        "temp_written_blocks": plan.get("Temp Written Blocks", 0),
        "nodes": sorted(set(nodes)),
    }


def measure_queries(
    callers: dict[str, rls.Caller], rounds: int, small_calls: int
) -> dict[str, Any]:
    """Each query's variants at both scales, in alternating rounds: in each round every
    variant is called small_calls times at the baseline scale (its median taken) and once
    at the large scale, one after the other. One unmeasured call of each first, whose
    answers' row counts are kept."""
    baseline, large = callers
    found: dict[str, Any] = {}
    for query in rls.QUERIES:
        calls = {scale: variants(caller, query) for scale, caller in callers.items()}
        row_counts = {
            scale: {name: _row_count(call()) for name, call in each.items()}
            for scale, each in calls.items()
        }
        per_round: dict[str, dict[str, list[float]]] = {
            scale: {name: [] for name in calls[scale]} for scale in calls
        }
        for number in range(rounds):
            for name in calls[large]:
                for scale, each_calls in ((baseline, small_calls), (large, 1)):
                    timing = measure.time_calls(calls[scale][name], each_calls, warm_up=0)
                    per_round[scale][name].append(timing.median_ms)
            print(
                f"  {query.name}, round {number + 1} of {rounds}: "
                + ", ".join(
                    f"{name} {per_round[baseline][name][-1]:.1f} / "
                    f"{per_round[large][name][-1]:.0f} ms"
                    for name in calls[large]
                ),
                flush=True,
            )
        found[query.name] = {
            "text": query.unfiltered(),
            "hand_written_text": query.hand_written(rls.SEATTLE_STORE_ID),
            "row_counts": row_counts,
            "same_row_counts": {
                scale: counts["head_office"] == counts["no_filter_plain"]
                and counts["manager"] == counts["hand_written_plain"]
                for scale, counts in row_counts.items()
            },
            "per_round_ms": per_round,
            "median_ms": {
                scale: {name: round(statistics.median(values), 2) for name, values in each.items()}
                for scale, each in per_round.items()
            },
            "large_vs_baseline": {
                name: round(
                    statistics.median(
                        big / small
                        for big, small in zip(
                            per_round[large][name], per_round[baseline][name], strict=True
                        )
                    ),
                    1,
                )
                for name in per_round[large]
            },
            "run_query_vs_plain": {
                scale: {
                    pair: round(
                        statistics.median(
                            a / b for a, b in zip(each[top], each[bottom], strict=True)
                        ),
                        2,
                    )
                    for pair, (top, bottom) in RUN_QUERY_PAIRS.items()
                }
                for scale, each in per_round.items()
            },
        }
    return found


# The work_mem tried for head office against the cluster's (PostgreSQL's default, 4MB).
WORK_MEM_TRIED = "64MB"


def work_mem_experiment(caller: rls.Caller, rounds: int) -> dict[str, Any]:
    """Head office through run_query with its session's work_mem at the cluster's
    setting and at WORK_MEM_TRIED, alternating, each query `rounds` times."""
    conn = caller.principals[measure.HEAD_OFFICE]
    found: dict[str, Any] = {}
    settings = {"cluster": None, WORK_MEM_TRIED: WORK_MEM_TRIED}
    try:
        for query in rls.QUERIES:
            text = query.unfiltered()
            samples: dict[str, list[float]] = {name: [] for name in settings}
            for _ in range(rounds):
                for name, value in settings.items():
                    if value is None:
                        conn.execute("reset work_mem")
                    else:
                        conn.execute("select set_config('work_mem', %s, false)", (value,))
                    begun = time.perf_counter()
                    caller.full_path(measure.HEAD_OFFICE, text)
                    samples[name].append((time.perf_counter() - begun) * 1000)
            found[query.name] = {
                "median_ms": {
                    name: round(statistics.median(values), 1) for name, values in samples.items()
                },
                "tried_vs_cluster": round(
                    statistics.median(
                        a / b
                        for a, b in zip(samples[WORK_MEM_TRIED], samples["cluster"], strict=True)
                    ),
                    2,
                ),
            }
            print(f"  {query.name}: {found[query.name]}", flush=True)
    finally:
        conn.execute("reset work_mem")
    return found


def run(quick: bool = False, rebuild: bool = False) -> dict[str, Any]:
    """Build (or find) the large database, measure its sizes and the analytic queries
    against the baseline scale's database (quick: tiny scales, the large one always built
    afresh)."""
    rebuild = rebuild or quick or os.environ.get("ZAVA_BENCH_REBUILD") == "1"
    large_scale, baseline_scale = (
        (QUICK_SCALE, QUICK_BASELINE_SCALE) if quick else (SCALE, BASELINE_SCALE)
    )
    large_settings, large_url, record = dataset(large_scale, quick, rebuild)
    baseline_settings, baseline_url = (
        measure.sample_database(baseline_scale, "zava_bench_scale_quick_baseline")
        if quick
        else measure.sample_database(baseline_scale)
    )
    large, baseline = f"{large_scale:g}", f"{baseline_scale:g}"
    print("sizes ...", flush=True)
    found_sizes = {large: sizes(large_url), baseline: sizes(baseline_url)}
    rounds, small_calls = (2, 1) if quick else (ROUNDS, BASELINE_CALLS_PER_ROUND)
    print(
        f"queries, {rounds} rounds (scale {baseline} / scale {large} per variant) ...", flush=True
    )
    with (
        rls.caller_for(baseline_settings, baseline_url) as baseline_caller,
        rls.caller_for(large_settings, large_url) as large_caller,
    ):
        queries = measure_queries(
            {baseline: baseline_caller, large: large_caller}, rounds, small_calls
        )
    print("plans (EXPLAIN ANALYZE of the plain SQL) ...", flush=True)
    for query in rls.QUERIES:
        queries[query.name]["plans"] = {
            scale: {
                "no_filter_plain": plan_summary(url, settings, query.unfiltered()),
                "hand_written_plain": plan_summary(
                    url, settings, query.hand_written(rls.SEATTLE_STORE_ID)
                ),
            }
            for scale, url, settings in (
                (baseline, baseline_url, baseline_settings),
                (large, large_url, large_settings),
            )
        }
        queries[query.name]["plans"][large][f"no_filter_plain, work_mem {WORK_MEM_TRIED}"] = (
            plan_summary(large_url, large_settings, query.unfiltered(), WORK_MEM_TRIED)
        )
    print(f"head office at work_mem {WORK_MEM_TRIED} (scale {large}) ...", flush=True)
    with rls.caller_for(large_settings, large_url) as large_caller:
        work_mem = work_mem_experiment(large_caller, rounds)
    results = {
        "scale": large_scale,
        "baseline_scale": baseline_scale,
        "build": record,
        "sizes": found_sizes,
        "rounds": rounds,
        "baseline_calls_per_round": small_calls,
        "time_budget_seconds": large_settings.server.time_budget_seconds,
        "queries": queries,
        "work_mem_tried": WORK_MEM_TRIED,
        "work_mem": work_mem,
        "build_family": build_family_figures(),
        "machine": measure.machine(),
    }
    report(results)
    return results


ROUNDS = 3
BASELINE_CALLS_PER_ROUND = 3


def build_family_figures() -> dict[str, Any] | None:
    """The build family's saved seed steps at scales 1 and 10 (docs/benchmarks/build.json),
    shown beside scale 100's to tell whether a step grows in proportion: measured in
    another run, so the comparison is rough."""
    path = measure.RESULTS_DIR / "build.json"
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return {
        "measured_at": saved["measured_at"],
        "commit": saved.get("commit"),
        "builds": [
            {key: build[key] for key in ("scale", "steps", "seed_seconds", "rows")}
            for build in saved["builds"]
        ],
    }


def _mib(size: float) -> float:
    return round(size / 2**20, 1)


def report(results: dict[str, Any]) -> None:
    build = results["build"]
    measure.print_table(
        f"Build at scale {results['scale']:g} (s){' (cached)' if build['cached'] else ''}",
        ["schema", *build["steps"], "vacuum analyze", "total"],
        [
            [
                build["schema_seconds"],
                *build["steps"].values(),
                build["vacuum_analyze_seconds"],
                build["total_seconds"],
            ]
        ],
    )
    large, baseline = f"{results['scale']:g}", f"{results['baseline_scale']:g}"
    measure.print_table(
        f"Tables at scale {large} (MiB)",
        ["table", "rows", "heap", "indexes", "total", f"total at scale {baseline}"],
        [
            [
                table["table"],
                build["rows"].get(table["table"], "-"),
                _mib(table["heap_bytes"]),
                _mib(table["indexes_bytes"]),
                _mib(table["total_bytes"]),
                _mib(_table(results["sizes"][baseline], table["table"])["total_bytes"]),
            ]
            for table in results["sizes"][large]["tables"]
        ],
    )
    measure.print_table(
        f"Indexes at scale {large} (MiB)",
        ["index", "table", "MiB"],
        [
            [index["index"], index["table"], _mib(index["bytes"])]
            for index in results["sizes"][large]["indexes"]
        ],
    )
    print(f"database: {_mib(results['sizes'][large]['database_bytes'])} MiB")
    for name, figures in results["queries"].items():
        measure.print_table(
            f"{name}: median ms at scale {baseline} and {large}",
            ["variant", f"rows at {large}", baseline, large, f"{large} / {baseline}"],
            [
                [
                    variant,
                    figures["row_counts"][large][variant],
                    figures["median_ms"][baseline][variant],
                    figures["median_ms"][large][variant],
                    figures["large_vs_baseline"][variant],
                ]
                for variant in figures["median_ms"][large]
            ],
        )
        print(
            "run_query / plain SQL: "
            + "; ".join(
                f"scale {scale}: " + ", ".join(f"{pair} {value}" for pair, value in ratios.items())
                for scale, ratios in figures["run_query_vs_plain"].items()
            )
        )


def _table(found: dict[str, Any], name: str) -> dict[str, Any]:
    return next(table for table in found["tables"] if table["table"] == name)


# The seed before its bulk-load change (commit c59420e's db/seed: every index kept while
# the rows went in), at scale 100 in this family's database, stopped after the orders
# step; the build family's scale-10 figures beside them. Measured by hand on 2026-12-03
# (1-minute load about 2 to 4 on the two cores).
SEED_BEFORE = {"30_customers": 94.3, "40_orders": 633.7}
SEED_BEFORE_SCALE_10 = {"30_customers": 9.58, "40_orders": 41.96}

# A hand experiment at scale 100 on top 10 products last quarter (a script outside the
# repository, 2026-12-03
# 05:08 UTC, 1-minute load about 1): random_page_cost at PostgreSQL's 4 and at 1.1 (data
# in memory), one EXPLAIN ANALYZE of the plain SQL each as the owner, then head office and
# Seattle through run_query with the setting on the principal's session, alternating, 3
# calls each (median ms).
RANDOM_PAGE_COST = {
    "plain head office": (8663, 1017),
    "plain hand-written Seattle": (1191, 1379),
    "run_query head office": (12968, 13419),
    "run_query Seattle": (1639, 1603),
}

# What the figures showed when they were saved (docs/benchmarks/scale.json), and what a
# deployment at this size needs; written after the run, rewrite with new figures.
FINDINGS = (
    "**Head office's questions over the whole history are not interactive at this size, and "
    "two do not fit a tool call.** Through `mcp.run_query`, monthly revenue by store took "
    "15.4 s (112x scale 1), category mix 6.5 s (91x), top 20 customers by spend 30.8 s "
    "(82x): past the server's 15 s budget for monthly revenue and top 20 customers, so "
    "those tool calls are cancelled (the run before, on an AMD EPYC where this one ran on "
    "an Intel Xeon: 23.5, 11.0 and 40.0 s; an earlier run had monthly revenue at 14.0 s). Each reads all of order_items' heap or more (2,913 to 4,288 MiB "
    "per call in the plain SQL's plans): no index or partition narrows \"every store, all "
    'history". What would answer them in seconds is fewer rows to read: a summary table '
    "(revenue per store, product and month is at most 8 x 442 x 82 = 290,000 rows against "
    "40 million lines) refreshed on a schedule, with a store policy like the base tables' "
    "(not built or measured here). Until then a deployment at this size raises "
    "`ZAVA_TIME_BUDGET` for head office, or tells its users these questions take tens of "
    "seconds.",
    "**A question about a period reads that period.** Top 10 products last "
    "quarter took 0.77 s as head office (69x scale 1): order lines' order_id index carries "
    "their store, product and amount (`order_items_order_id_covering_idx`), so the tool "
    "call joins the quarter's orders to their lines from the index alone. The "
    "administrator's plain SQL, without the policy, still reads all of order_items (2,944 "
    "MiB, 6.8 s): PostgreSQL prefers that plan at `random_page_cost` 4.",
    "**For a store manager too, since the orders policy tells the planner the store**: top "
    "10 products last quarter took 283 ms, 1.82x the owner's plain SQL with "
    "`ord.store_id = 1` (158 ms), where the run before took 2.6 s (10.5x). Then the policy's "
    "store list was a parameter PostgreSQL cannot see when it plans: it expected 74 % of "
    "the quarter's orders (630,000) and hashed all of the store's order lines, read from "
    "the store's part of the covering store index, against them. The policy's second test "
    "(`mcp_internal.visible_store_when_planned()`, section 2) now puts `store_id = 1` in "
    "the plan, and the manager gets the owner's nested loop into the order_id index.",
    "**`mcp.run_query` against plain SQL at this size**: for head office 1.02, 0.14, 1.14 "
    "and 0.89x (monthly revenue, top 10, category mix, top 20 customers); for a manager "
    "1.68, 1.82, 1.87 and 1.34x the hand-written filter (5.1, 0.28, 2.0 and 9.5 s; the run "
    "before the orders policy's planner test: 1.82, 10.5, 1.85 and 1.41x, 9.4, 2.6, 3.5 "
    "and 11.7 s). A manager's query runs without parallel workers, which the hand-written "
    "query gets (the order lines' policy still guesses 74 %, section 2).",
    "**Store managers stay within the budget but are not all interactive**: 5.1 s, 0.28 s, "
    "2.0 s and 9.5 s for the four order questions; low stock is unchanged (2 ms: inventory "
    "does not grow with the orders). Through the store-scoped covering indexes the owner's "
    "hand-written plain query reads only the store's part: 308 to 467 MiB from beyond "
    "shared buffers per call (top 20 customers 467 MiB, against 1,674 MiB before the "
    "orders' and customers' covering indexes carried what it reads) and 14 MiB for top 10 "
    "(Seattle has about 20 % of the lines), against 2,913 to 4,288 MiB for head office.",
    "**Memory.** The database is 11,034 MiB (it grows with the scale), heaps 4,290 MiB and "
    "indexes 6,733 MiB; the covering order_id index is 1,548 MiB against the 686 MiB of the "
    "plain one it replaced, the customers' covering store index 198 MiB. "
    "All of it fit in this machine's 23.5 GiB, so the pages counted "
    "as read above came from the operating system's cache, not the disk; a deployment at "
    "this size wants RAM above the database's size. `shared_buffers` was PostgreSQL's "
    "128 MB, so every manager's call read its part of the covering indexes from that cache; "
    "a `shared_buffers` that holds them was not measured here.",
    "**work_mem: no gain.** Head office with 64MB instead of the default 4MB took 1.06x, "
    "0.99x, 1.00x and 1.27x as long for the four order questions (3 alternating calls "
    "each; the run before 1.09x, 0.99x, 1.01x and 1.08x). Monthly revenue's plain SQL still wrote 1,799 MiB of temporary files; here "
    "they land in the page cache. Leave it at the default for these queries.",
    "**random_page_cost 1.1** (the data in memory) turned the administrator's plain top 10 "
    "query from 8.7 s to 1.0 s in the hand experiment above, made before the covering "
    "index; head office's tool call now takes that plan at PostgreSQL's 4. Worth setting "
    "on a host whose data fit in memory or sit on SSDs, for the SQL of other clients.",
    "**Partitioning: not supported by these figures.** A manager already reads only the "
    "store's part of the covering indexes; Seattle's partition of order_items would hold "
    "about 20 % of its 2,920 MiB heap, more than that, and head office reads every "
    "partition anyway. A period's question reads its period through the order_id index "
    "(top 10 last quarter, above), so an `order_date` on order_items, partitioned by it, "
    "is no longer needed for that. Neither helps head office's whole-history questions.",
    "**An upgrade rebuilds a changed index inside `db init`'s one transaction.** On this "
    "database `db init` dropped the orders' covering store index built by the version "
    "before (without customer_id), built it again (602 MiB) and built the customers' new "
    "one (198 MiB) in 13.7 s. Dropping an index locks its table against reads as well "
    "as writes until the transaction commits, so for those seconds every query of orders "
    "waits: run such an upgrade when a pause of that length is acceptable.",
    "**Building it takes about twenty minutes here**: 1,193 s on the two shared cores of "
    "an Intel Xeon (1-minute load median 1.1 during the build): customers 81 s, orders "
    "366 s, order_items 643 s, the deferred indexes and ANALYZE 86 s, vacuum analyze 15 s "
    "(the builds before, on an AMD EPYC: 2,071 s at a load of 1.03, order_items 1,230 s; "
    "1,787 s at 3.98). The orders step took 17x the build family's scale-10 time (21.9 s, "
    "another run, on the EPYC). A likely cause, not "
    "verified: each order's foreign key check locks its customer's row (FOR KEY SHARE), "
    "dirtying a random page of the 524 MiB customers heap per order; dropping and adding "
    "the foreign keys around the load would test it.",
)


def markdown(results: dict[str, Any]) -> str:
    """This family's section of docs/benchmarks.md."""
    build = results["build"]
    large, baseline = f"{results['scale']:g}", f"{results['baseline_scale']:g}"
    large_sizes, baseline_sizes = results["sizes"][large], results["sizes"][baseline]
    load = build.get("load_during_build") or {}
    lines = [
        f"## Scale {large}: {build['rows']['orders']:,} orders, "
        f"{build['rows']['order_items']:,} order lines",
        "",
        f"The sample at scale {large} in a database of its own (`db reset`: the schema, the "
        "deterministic seed in one transaction, then `vacuum analyze` as every benchmark "
        f"database gets it), measured against the scale-{baseline} benchmark database in the "
        "same run. The database is built once and kept; "
        + (
            f"these build figures are from {build.get('built_at')}"
            if build["cached"]
            else "it was built in this run"
        )
        + (
            f" (1-minute load {load['median']} median, {load['min']} to {load['max']}, "
            "during the build)."
            if load
            else "."
        )
        + (
            f" `db init` on the kept database in this run (the schema applied again, as an "
            f"upgrade applies it: an index whose definition changed is built again) took "
            f"{build['schema_applied_seconds']:g} s."
            if build.get("schema_applied_seconds") is not None
            else ""
        )
        + " PostgreSQL runs with the embedded cluster's settings (below), which are "
        "PostgreSQL's defaults, on the same machine as the other families.",
        "",
        "### Build",
        "",
    ]
    earlier = (results.get("build_family") or {"builds": []})["builds"]
    columns = [*(f"scale {b['scale']:g} (build family)" for b in earlier), f"scale {large}"]

    def row(label: str, before: list[Any], value: Any) -> str:
        return f"| {label} | " + " | ".join(str(cell) for cell in [*before, value]) + " |"

    lines += [
        "| step | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        row("schema", ["-" for _ in earlier], build["schema_seconds"]),
        *(
            row(f"seed {step}", [b["steps"].get(step, "-") for b in earlier], seconds)
            for step, seconds in build["steps"].items()
        ),
        row(
            "seed, all (with its commit and the principals' roles)",
            [b["seed_seconds"] for b in earlier],
            build["seed_seconds"],
        ),
        row("vacuum analyze", ["-" for _ in earlier], build["vacuum_analyze_seconds"]),
        row("**total**", ["-" for _ in earlier], f"**{build['total_seconds']}**"),
        "",
    ]
    if earlier:
        lines += [
            "The scale 1 and 10 columns are the build family's figures (saved "
            f"{results['build_family']['measured_at']}, another run, on a quieter machine, "
            "with the seed as it was before the change below): a step that grows in "
            "proportion takes ten times as long at each step of ten.",
            "",
        ]
    lines += [
        "The seed now drops the secondary indexes of customers, orders and order_items "
        "before it fills them and builds them again in `90_finish` (one sort each). Before, "
        "at scale 100, "
        + ", ".join(
            f"`{step}` took {seconds} s ({seconds / SEED_BEFORE_SCALE_10[step]:.1f}x its "
            f"scale-10 time)"
            for step, seconds in SEED_BEFORE.items()
        )
        + " before it was stopped: filled row by row, `orders_customer_id_idx`, whose key "
        "does not follow the insert order, outgrew `shared_buffers` and cost a page write "
        "for nearly every row. At scale 1, back to back (while the scale-100 build ran): seed "
        "39.2 s before, 18.3 s after, the same rows (the seed tests' checksum) and indexes as "
        "large or smaller.",
        "",
    ]
    lines += [
        "### Sizes",
        "",
        f"Database: **{_mib(large_sizes['database_bytes']):,.0f} MiB** at scale {large}, "
        f"{_mib(baseline_sizes['database_bytes']):,.0f} MiB at scale {baseline}. "
        f"Indexes of the retail tables together: "
        f"{_mib(sum(t['indexes_bytes'] for t in large_sizes['tables'])):,.0f} MiB; "
        f"heaps {_mib(sum(t['heap_bytes'] for t in large_sizes['tables'])):,.0f} MiB. "
        f"The machine has {results['machine']['memory_gib'] if 'machine' in results else '?'} "
        "GiB of RAM.",
        "",
        f"| table | rows at scale {large} | heap MiB | indexes MiB | total MiB "
        f"| total MiB at scale {baseline} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for table in large_sizes["tables"]:
        rows = build["rows"].get(table["table"])
        small = _table(baseline_sizes, table["table"])
        lines.append(
            f"| {table['table']} | {'-' if rows is None else f'{rows:,}'} "
            f"| {_mib(table['heap_bytes']):,} | {_mib(table['indexes_bytes']):,} "
            f"| {_mib(table['total_bytes']):,} | {_mib(small['total_bytes']):,} |"
        )
    baseline_index = {index["index"]: index["bytes"] for index in baseline_sizes["indexes"]}
    lines += [
        "",
        f"| index (scale {large}) | MiB | MiB at scale {baseline} | definition |",
        "|---|---:|---:|---|",
    ]
    for index in large_sizes["indexes"]:
        if index["bytes"] < 2**20 and baseline_index.get(index["index"], 0) < 2**20:
            continue
        lines.append(
            f"| {index['index']} | {_mib(index['bytes']):,} "
            f"| {_mib(baseline_index.get(index['index'], 0)):,} "
            f"| `{index['definition'].split(' ON ', 1)[-1].replace(' USING btree', '')}` |"
        )
    lines += [
        "",
        "(Indexes under 1 MiB at both scales left out.) Settings of the cluster measured:",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| `{name}` | {value} |" for name, value in large_sizes["settings"].items()),
        "",
        "### The analytic queries",
        "",
        f"The row level security family's queries (`rls.QUERIES`), {results['rounds']} rounds; "
        f"in each, every variant is called {results['baseline_calls_per_round']} times at scale "
        f"{baseline} (their median) and once at scale {large}, one after the other, so load "
        f"falls on both scales alike. `{large} / {baseline}` is the median over rounds of the "
        "ratio in the same round. Medians in ms. The server cancels a tool call after "
        f"`ZAVA_TIME_BUDGET` ({results['time_budget_seconds']:g} s by default).",
        "",
        "| variant | what it is |",
        "| --- | --- |",
        *(f"| `{name}` | {note} |" for name, note in VARIANT_NOTES.items()),
        "",
        f"| query | variant | rows at scale {large} | scale {baseline} ms | scale {large} ms "
        f"| {large} / {baseline} | within the time budget |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    budget_ms = results["time_budget_seconds"] * 1000
    for name, figures in results["queries"].items():
        for variant in VARIANT_NOTES:
            big = figures["median_ms"][large][variant]
            shown = f"{big:,.0f}" if big >= 100 else f"{big:.1f}"
            through_tool = variant in ("head_office", "manager")
            lines.append(
                f"| {name} | `{variant}` | {figures['row_counts'][large][variant]} "
                f"| {figures['median_ms'][baseline][variant]:,.1f} | {shown} "
                f"| {figures['large_vs_baseline'][variant]:,} "
                f"| {('yes' if big <= budget_ms else '**no**') if through_tool else '-'} |"
            )
    lines += [
        "",
        "`mcp.run_query` against plain SQL (median over rounds of the ratio in the same round):",
        "",
        f"| query | head office / no filter, scale {baseline} | scale {large} "
        f"| manager / hand-written, scale {baseline} | scale {large} |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, figures in results["queries"].items():
        ratios = figures["run_query_vs_plain"]
        lines.append(
            f"| {name} | {ratios[baseline]['head_office_vs_no_filter_plain']} "
            f"| {ratios[large]['head_office_vs_no_filter_plain']} "
            f"| {ratios[baseline]['manager_vs_hand_written_plain']} "
            f"| {ratios[large]['manager_vs_hand_written_plain']} |"
        )
    lines += [
        "",
        f"The plain SQL's plans at scale {large} (one `EXPLAIN (ANALYZE, BUFFERS)` each, as the "
        "owner): pages found in shared buffers or read from beyond them (the OS cache or the "
        "disk), and temporary files written by sorts and hashes that did not fit `work_mem`:",
        "",
        "| query | variant | ms | workers launched | shared hit MiB | read MiB | temp written MiB "
        "| plan nodes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, figures in results["queries"].items():
        for variant, plan in figures["plans"][large].items():
            lines.append(
                f"| {name} | `{variant}` | {plan['execution_ms']:,} | {plan['workers_launched']} "
                f"| {_mib(plan['shared_hit_blocks'] * 8192):,} "
                f"| {_mib(plan['shared_read_blocks'] * 8192):,} "
                f"| {_mib(plan['temp_written_blocks'] * 8192):,} | {', '.join(plan['nodes'])} |"
            )
    tried = results["work_mem_tried"]
    cluster_work_mem = large_sizes["settings"]["work_mem"]
    lines += [
        "",
        f"Head office through `mcp.run_query` at scale {large} with its session's `work_mem` at "
        f"the cluster's {cluster_work_mem} and at {tried}, alternating, {results['rounds']} "
        "calls each; beside them the temporary files the plain SQL wrote at each setting:",
        "",
        f"| query | head office ms, work_mem {cluster_work_mem} | {tried} | {tried} / "
        f"{cluster_work_mem} | plain SQL temp written MiB, {cluster_work_mem} | {tried} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, figures in results["work_mem"].items():
        plans = results["queries"][name]["plans"][large]
        spilled = plans[f"no_filter_plain, work_mem {tried}"]["temp_written_blocks"]
        lines.append(
            f"| {name} | {figures['median_ms']['cluster']:,.0f} "
            f"| {figures['median_ms'][tried]:,.0f} | {figures['tried_vs_cluster']} "
            f"| {_mib(plans['no_filter_plain']['temp_written_blocks'] * 8192):,} "
            f"| {_mib(spilled * 8192):,} |"
        )
    lines += [
        "",
        "By hand, once (not rerun by this family): top 10 products last quarter at scale "
        f"{large} with `random_page_cost` at PostgreSQL's 4 and at 1.1 (the data are in "
        "memory), one `EXPLAIN ANALYZE` of the plain SQL each, then run_query with the "
        "setting on the principal's session, alternating, 3 calls each; 1-minute load about "
        "1. Medians in ms:",
        "",
        "| path | random_page_cost 4 | 1.1 |",
        "|---|---:|---:|",
        *(f"| {path} | {a:,} | {b:,} |" for path, (a, b) in RANDOM_PAGE_COST.items()),
        "",
        "At 1.1 the plain head office query walks the quarter's orders and reaches their "
        "lines through the order_id index (a nested loop) instead of reading all of "
        "order_items; run_query's cursor, as it was then, kept the other plan, so the tool "
        "calls did not move. Made before that index carried the lines' store, product and "
        "amount; with it, head office's tool call takes the nested loop at 4 (above).",
    ]
    same = all(all(f["same_row_counts"].values()) for f in results["queries"].values())
    lines += [
        "",
        "Row counts: through `mcp.run_query` and as plain SQL, "
        + (
            "every query returned as many rows at both scales."
            if same
            else "the row counts did NOT all agree; see the JSON."
        ),
        "",
        "### What a deployment at this size needs",
        "",
        *(f"- {finding}" for finding in FINDINGS),
    ]
    return "\n".join(lines) + "\n"


PLOT_NAME = "scale.png"


def plots(results: dict[str, Any], directory: Path) -> list[Path]:
    """Median latency per query and variant at both scales (log scale), with the time
    budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    large, baseline = f"{results['scale']:g}", f"{results['baseline_scale']:g}"
    names = list(results["queries"])
    shown = list(VARIANT_NOTES)
    width = 0.8 / len(shown)
    figure, axes = plt.subplots(figsize=(9, 4.5))
    for index, variant in enumerate(shown):
        positions = [i + (index - (len(shown) - 1) / 2) * width for i in range(len(names))]
        for scale, alpha, label in ((large, 1.0, variant), (baseline, 0.35, None)):
            values = [results["queries"][name]["median_ms"][scale][variant] for name in names]
            axes.bar(positions, values, width, alpha=alpha, label=label, color=f"C{index}")
    axes.axhline(
        results["time_budget_seconds"] * 1000,
        color="black",
        linestyle="--",
        linewidth=1,
        label="time budget",
    )
    axes.set_yscale("log")
    axes.set_xticks(range(len(names)), [textwrap.fill(name, 16) for name in names])
    axes.set_ylabel("median ms (log)")
    axes.set_title(f"Analytic queries at scale {large} (solid) and {baseline} (pale)")
    axes.legend(fontsize="small")
    return measure.save_figure(figure, directory / PLOT_NAME)


if __name__ == "__main__":
    # Build (or find) the scale-100 database ahead of `run.py scale`.
    rebuild = os.environ.get("ZAVA_BENCH_REBUILD") == "1"
    quick = "--quick" in sys.argv[1:]
    *_, built = dataset(QUICK_SCALE if quick else SCALE, quick, rebuild)
    print(json.dumps(built, indent=2))
