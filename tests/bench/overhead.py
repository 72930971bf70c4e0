"""Family 1: what a tool call costs on top of the query it runs.

The same query, three ways, at 1, 8, 32 and 64 concurrent clients on loopback:
  plain      the query over psycopg as the administrator (no principal, no guard)
  run_query  mcp.run_query with the server's whole per-call lifecycle (calls.Database with
             the server's settings: a connection logged in as the principal's own role
             from that principal's pool, one pipeline of begin read only, the call,
             rollback and the session cleaning, under the time budget)
  mcp        the execute_sales_query tool of a real `zava-mcp serve` process, over
             Streamable HTTP with an API key, called by the official MCP client
and, as the protocol stack's own floor, a no-op tool on the same SDK and transport in a
server process of its own, called by the same client. The figures that count are
ratios: the MCP tool's median minus the direct run_query median (what MCP adds), and
execute_sales_query's throughput over the no-op tool's at the same concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import measure
import psycopg
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from psycopg_pool import AsyncConnectionPool

from zava_mcp.calls import Database
from zava_mcp.config import Settings
from zava_mcp.identity import create_key

QUERIES = {
    "select 1": "select 1",
    # The issue's own example: top 10 products by revenue in the last full quarter of the
    # sample data (it ends in October 2026).
    "top 10 products last quarter": (
        "select product.product_name, sum(item.total_amount) as revenue "
        "from retail.order_items as item "
        "join retail.orders as ord on ord.order_id = item.order_id "
        "join retail.products as product on product.product_id = item.product_id "
        "where ord.order_date >= date '2026-07-01' and ord.order_date < date '2026-10-01' "
        "group by product.product_name order by revenue desc limit 10"
    ),
    # A full answer at the tool's default row cap: what grows with the rows (their JSON,
    # the text table, the client's check against the output schema) rather than the query.
    "100 products": (
        "select product_id, sku, product_name, base_price, cost from retail.products "
        "order by product_id limit 100"
    ),
}
CONCURRENCY = (1, 8, 32, 64)
QUICK_CONCURRENCY = (1, 4)
WAYS = ("plain", "run_query", "mcp")
# Calls per level in each round; every figure is the median of the rounds' figures.
ROUNDS = 3
QUICK_ROUNDS = 2


# --- the three ways to run a query (the MCP way is measure.mcp_levels) ---


async def plain_levels(
    admin_url: str, query: str, levels: tuple[int, ...], calls: int, counters: measure.CpuCounters
) -> list[dict[str, Any]]:
    results = []
    for concurrency in levels:
        async with AsyncConnectionPool(
            admin_url,
            min_size=min(concurrency, 10),
            max_size=min(concurrency, 10),
            kwargs={"autocommit": True},
            open=False,
        ) as pool:
            await pool.wait()

            async def call() -> None:
                async with pool.connection() as conn:
                    await (await conn.execute(query)).fetchall()

            results.append(await measure.measure_level(call, concurrency, calls, 20, counters))
    return results


async def run_query_levels(
    settings: Settings,
    query: str,
    levels: tuple[int, ...],
    calls: int,
    counters: measure.CpuCounters,
) -> list[dict[str, Any]]:
    results = []
    head_office = uuid.UUID(measure.HEAD_OFFICE)
    for concurrency in levels:
        # The server's own settings: its pool, each principal's pool (ZAVA_POOL_*,
        # ZAVA_PRINCIPAL_POOL_MAX, ZAVA_CONNECTIONS_MAX defaults) and the time budget.
        db = Database.from_settings(settings)
        await db.open()
        try:

            async def call(db: Database = db) -> None:
                answer = await db.call(head_office, "select mcp.run_query(%s, %s)", [query, 100])
                assert answer["row_count"] > 0

            results.append(await measure.measure_level(call, concurrency, calls, 20, counters))
        finally:
            await db.close()
    return results


def normalized(rows: list[Any]) -> list[list[Any]]:
    """Rows as comparable values: numbers as floats (psycopg gives Decimal, JSON float)."""
    return [
        [float(value) if isinstance(value, int | float | Decimal) else value for value in row]
        for row in rows
    ]


async def answers(
    admin_url: str, settings: Settings, url: str, headers: dict[str, str], query: str
) -> dict[str, list[list[Any]]]:
    """The rows each way returns for the query: they must agree, or the timings compare
    different work."""
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        plain = await (await conn.execute(query)).fetchall()
    db = Database.from_settings(settings)
    await db.open()
    try:
        direct = await db.call(
            uuid.UUID(measure.HEAD_OFFICE), "select mcp.run_query(%s, %s)", [query, 100]
        )
    finally:
        await db.close()
    async with Client(
        streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=60))
    ) as client:
        result = await client.call_tool("execute_sales_query", {"postgresql_query": query})
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"the tool refused {query!r}: {result.content}")
    return {
        "plain": normalized([list(row) for row in plain]),
        "run_query": normalized(direct["rows"]),
        "mcp": normalized(result.structured_content["rows"]),
    }


def noop_server_command(port: int) -> list[str]:
    return [sys.executable, str(Path(__file__)), "--noop-server", str(port)]


def serve_noop(port: int) -> None:
    """The protocol floor: one tool that does nothing, on the same SDK and transport
    (stateless Streamable HTTP answering with JSON, uvicorn), with no authentication and no
    database."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    from zava_mcp.observability import configure_json_logs

    server = MCPServer(name="noop")
    # The same logging as `zava-mcp serve` (the SDK's own default logs every request).
    configure_json_logs()

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @server.tool(name="noop")
    async def noop() -> str:
        return "ok"

    # JSON answers, as `zava-mcp serve` gives them (tools.http_app), so that the floor is
    # measured on the same transport path.
    app = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def resident_kib(pid: int) -> dict[str, int]:
    """The process's resident memory now and at its peak (kB, from /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return {"rss_kib": fields["VmRSS"], "peak_rss_kib": fields["VmHWM"]}


# --- the whole family ---


def run(quick: bool = False) -> dict[str, Any]:
    levels = QUICK_CONCURRENCY if quick else CONCURRENCY
    rounds = QUICK_ROUNDS if quick else ROUNDS
    calls = 30 if quick else 200
    settings, admin_url = (
        measure.sample_database(0.02, "zava_bench_quick") if quick else measure.sample_database()
    )
    _, key = create_key(admin_url, uuid.UUID(measure.HEAD_OFFICE), "bench: head office")
    headers = {"Authorization": f"Bearer {key}"}

    results: dict[str, Any] = {"calls_per_level": calls * rounds, "rounds": rounds, "queries": {}}
    zava_port, noop_port = measure.free_port(), measure.free_port()
    env = measure.serve_env(settings, zava_port)
    zava_url = f"http://127.0.0.1:{zava_port}/mcp"
    noop_url = f"http://127.0.0.1:{noop_port}/mcp"
    db = settings.database_name
    with (
        measure.server_process(
            measure.zava_serve_command(), env, f"http://127.0.0.1:{zava_port}/healthz"
        ) as zava_pid,
        measure.server_process(
            noop_server_command(noop_port), env, f"http://127.0.0.1:{noop_port}/healthz"
        ) as noop_pid,
    ):
        # The local model loads in the background at start; one search waits for it, so
        # that its loading is not measured as tool-call time.
        asyncio.run(
            measure.mcp_levels(
                zava_url,
                headers,
                "semantic_search_products",
                {"query_description": "hammer"},
                (1,),
                1,
            )
        )
        memory = {"zava idle": resident_kib(zava_pid)}
        for name, query in QUERIES.items():
            rows = asyncio.run(answers(admin_url, settings, zava_url, headers, query))
            if not rows["plain"] == rows["run_query"] == rows["mcp"]:
                raise RuntimeError(f"the three ways disagree on {name!r}: {rows}")
            results.setdefault("rows_returned", {})[name] = len(rows["plain"])

        def noop() -> list[dict[str, Any]]:
            return asyncio.run(
                measure.mcp_levels(
                    noop_url, {}, "noop", {}, levels, calls, measure.counters_for(db, noop_pid)
                )
            )

        def way(name: str, how: str) -> list[dict[str, Any]]:
            query = QUERIES[name]
            if how == "plain":
                return asyncio.run(
                    plain_levels(admin_url, query, levels, calls, measure.counters_for(db))
                )
            if how == "run_query":
                return asyncio.run(
                    run_query_levels(settings, query, levels, calls, measure.counters_for(db))
                )
            return asyncio.run(
                measure.mcp_levels(
                    zava_url,
                    headers,
                    "execute_sales_query",
                    {"postgresql_query": query},
                    levels,
                    calls,
                    measure.counters_for(db, zava_pid),
                )
            )

        # Each round measures every way of every query at every level, so that a spell of
        # load falls on one round of each and the median of the rounds leaves it out.
        measured: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
        for round_ in range(1, rounds + 1):
            measured.setdefault(("noop", ""), []).append(noop())
            for name in QUERIES:
                for how in WAYS:
                    measured.setdefault((name, how), []).append(way(name, how))
            print(f"  round {round_} of {rounds} measured", flush=True)
        results["noop"] = by_level(measured[("noop", "")])
        results["queries"] = {
            name: {how: by_level(measured[(name, how)]) for how in WAYS} for name in QUERIES
        }
        memory["zava after load"] = resident_kib(zava_pid)
        memory["noop after load"] = resident_kib(noop_pid)
    results["memory"] = memory
    results["summary"] = summarize(results)
    report(results)
    return results


def by_level(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each round's measurements of every level as one per level: the rounds' median."""
    return [measure.median_of_rounds(same) for same in zip(*rounds, strict=True)]


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The ratios the targets speak of."""
    noop = {level["concurrency"]: level for level in results["noop"]}
    summary: dict[str, Any] = {}
    for name, figures in results["queries"].items():
        by_level = {
            way: {level["concurrency"]: level for level in levels}
            for way, levels in figures.items()
        }
        rows = {}
        for concurrency, mcp_level in by_level["mcp"].items():
            direct = by_level["run_query"][concurrency]
            rows[concurrency] = {
                "mcp_adds_ms": round(mcp_level["median_ms"] - direct["median_ms"], 3),
                "run_query_adds_ms": round(
                    direct["median_ms"] - by_level["plain"][concurrency]["median_ms"], 3
                ),
                "throughput_vs_noop": measure.ratio(
                    mcp_level["throughput_per_s"], noop[concurrency]["throughput_per_s"]
                ),
                "errors": mcp_level["errors"] + direct["errors"],
            }
        summary[name] = rows
    return summary


def report(results: dict[str, Any]) -> None:
    for name, figures in results["queries"].items():
        rows = []
        for way in ("plain", "run_query", "mcp"):
            for level in figures[way]:
                rows.append([way, level["concurrency"], *_figures(level)])
        for level in results["noop"]:
            rows.append(["noop tool", level["concurrency"], *_figures(level)])
        measure.print_table(
            f"Tool-call overhead: {name}",
            [
                "way",
                "clients",
                "median ms",
                "p95 ms",
                "p99 ms",
                "calls/s",
                "errors",
                "CPU ms/call: server",
                "postgres",
                "client",
            ],
            rows,
        )
        measure.print_table(
            f"What each layer adds: {name}",
            ["clients", "run_query adds ms", "MCP adds ms", "throughput / no-op", "errors"],
            [
                [c, r["run_query_adds_ms"], r["mcp_adds_ms"], r["throughput_vs_noop"], r["errors"]]
                for c, r in results["summary"][name].items()
            ],
        )
    measure.print_table(
        "Server memory (MiB)",
        ["process", "resident", "peak"],
        [
            [who, round(m["rss_kib"] / 1024, 1), round(m["peak_rss_kib"] / 1024, 1)]
            for who, m in results["memory"].items()
        ],
    )


def _figures(level: dict[str, Any]) -> list[Any]:
    cpu = level["cpu_ms_per_call"]
    return [
        level["median_ms"],
        level["p95_ms"],
        level["p99_ms"],
        level["throughput_per_s"],
        level["errors"],
        cpu.get("server", "-"),
        cpu.get("postgres", "-"),
        cpu["client"],
    ]


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several saved runs of this family as one: per level, the mean of each run's median,
    percentiles, throughput and CPU per call (errors and calls added up). Runs of the code
    before and after a change, interleaved (before, after, after, before), so that load
    that drifts during the session falls on both alike. Each run's time and load stay
    listed under "runs"."""
    first = runs[0]
    for run in runs[1:]:
        if run["rows_returned"] != first["rows_returned"] or set(run["queries"]) != set(
            first["queries"]
        ):
            raise ValueError("the runs measured different queries or rows: not merged")

    def levels(found: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return [measure.combine_levels(same, statistics.mean) for same in zip(*found, strict=True)]

    merged: dict[str, Any] = {
        **{
            key: first[key]
            for key in ("family", "commit", "machine", "quick", "rows_returned")
            if key in first
        },
        "measured_at": first["measured_at"],
        "calls_per_level": first["calls_per_level"],
        "run_seconds": round(sum(run.get("run_seconds", 0) for run in runs), 1),
        "runs": [
            {
                key: run[key]
                for key in ("measured_at", "machine", "run_seconds", "load_during")
                if key in run
            }
            for run in runs
        ],
        "noop": levels([run["noop"] for run in runs]),
        "queries": {
            name: {way: levels([run["queries"][name][way] for run in runs]) for way in ways}
            for name, ways in first["queries"].items()
        },
        "memory": runs[-1]["memory"],
    }
    merged["summary"] = summarize(merged)
    return merged


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--noop-server", type=int, metavar="PORT")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="OUT IN [IN ...]: write the saved runs IN as one (the mean per level) to OUT",
    )
    args = parser.parse_args()
    if args.noop_server:
        serve_noop(args.noop_server)
    if args.merge:
        import json

        out, *inputs = args.merge
        Path(out).write_text(
            json.dumps(merge_runs([json.loads(Path(i).read_text()) for i in inputs]), indent=2)
            + "\n"
        )


# --- the report ---

TARGET_ADDS_MS = 2.0
TARGET_THROUGHPUT = 0.8


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## 1. Tool-call overhead",
        "",
        "The same query three ways, each at 1, 8, 32 and 64 concurrent clients on loopback, "
        + _calls_text(results)
        + (
            f" (each figure the mean of {len(results['runs'])} runs in one session, "
            "interleaved with the runs of the code before the change below)"
            if results.get("runs")
            else ""
        )
        + ": **plain** "
        "(the query over psycopg as the administrator), **run_query** (`mcp.run_query` "
        "through the server's own per-call code and settings, `calls.Database`: a "
        "connection logged in as the principal's own role from that principal's pool, one "
        "pipeline of `begin read only`, the call, `rollback` and the session cleaning, "
        "under the time budget), **mcp** (the "
        "`execute_sales_query` tool of a `zava-mcp serve` process in stateless mode, with "
        "an API key, called by the official MCP Python client, one session per client). "
        "The **no-op tool** is the protocol's floor: a tool that returns a constant, on the "
        "same SDK, transport and logging, in a server process of its own. Head office's "
        "principal, so that every way returns the same rows. CPU per call is read from "
        "`/proc` for the server process, the database's backends and the client process.",
        "",
    ]
    for name, figures in results["queries"].items():
        lines += [f"### `{name}`", ""]
        lines += [
            "| way | clients | median ms | p95 ms | p99 ms | calls/s | errors "
            "| CPU ms/call: server | postgres | client |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for way in ("plain", "run_query", "mcp"):
            for level in figures[way]:
                lines.append(_markdown_row(way, level))
        for level in results["noop"]:
            lines.append(_markdown_row("no-op tool", level))
        lines += [
            "",
            "| clients | run_query adds (ms, median) | MCP adds over run_query (ms, median) "
            "| throughput / no-op tool | errors |",
            "|---:|---:|---:|---:|---:|",
        ]
        for concurrency, row in results["summary"][name].items():
            lines.append(
                f"| {concurrency} | {row['run_query_adds_ms']} | {row['mcp_adds_ms']} "
                f"| {row['throughput_vs_noop']} | {row['errors']} |"
            )
        lines.append("")
    lines += ["**Targets** (on `select 1`):", ""]
    lines += [
        f"- {target}: **{measured} — {'met' if met else 'missed'}**."
        for target, measured, met in targets(results)
    ]
    lines += ["", *floor_notes(results)]
    memory = results["memory"]
    lines += [
        "",
        "Server memory (resident set, MiB; the zava server holds the local embedding model):",
        "",
        "| process | resident | peak |",
        "|---|---:|---:|",
    ]
    for who, figures in memory.items():
        lines.append(
            f"| {who} | {figures['rss_kib'] / 1024:.1f} | {figures['peak_rss_kib'] / 1024:.1f} |"
        )
    lines += ["", "![latency and throughput against concurrency](benchmarks/overhead.png)", ""]
    return "\n".join(lines)


def _calls_text(results: dict[str, Any]) -> str:
    rounds = results.get("rounds", 1)
    if rounds == 1:  # runs saved before the rounds
        return f"{results['calls_per_level']} calls per level after 20 warm-up calls"
    return (
        f"{rounds} rounds of {results['calls_per_level'] // rounds} calls per level after 20 "
        "warm-up calls, each figure the median of the rounds' (every round measures every "
        "way of every query at every level, so a spell of load falls on one round of each)"
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, what was measured, met) for the issue's targets this family measures."""
    select_one = results["summary"].get("select 1", {})
    # JSON turns the concurrency keys into strings.
    single = select_one.get(1) or select_one.get("1")
    at_32 = select_one.get(32) or select_one.get("32")
    found = []
    if single:
        found.append(
            (
                f"MCP tool call adds ≤ {TARGET_ADDS_MS:g} ms at the median over the direct "
                "`mcp.run_query` call (`select 1`, one client)",
                f"{single['mcp_adds_ms']} ms",
                single["mcp_adds_ms"] <= TARGET_ADDS_MS,
            )
        )
    if at_32:
        found.append(
            (
                f"`execute_sales_query` throughput at 32 clients ≥ {TARGET_THROUGHPUT:g}x the "
                "no-op tool's, zero errors",
                f"{at_32['throughput_vs_noop']}x, {at_32['errors']} errors",
                at_32["throughput_vs_noop"] >= TARGET_THROUGHPUT and at_32["errors"] == 0,
            )
        )
    return found


def floor_notes(results: dict[str, Any]) -> list[str]:
    """Where the time of one `select 1` call goes, from the figures of this run."""
    figures = results["queries"].get("select 1")
    if not figures:
        return []
    first = {way: levels[0] for way, levels in figures.items()}
    noop = results["noop"][0]
    mcp_cpu, noop_cpu = first["mcp"]["cpu_ms_per_call"], noop["cpu_ms_per_call"]
    return [
        "What the figures say, one client, `select 1`: the no-op tool alone takes "
        f"{noop['median_ms']} ms at the median, so of the {first['mcp']['median_ms']} ms "
        f"of the MCP call, {noop['median_ms']} ms is the protocol stack's floor (HTTP, "
        f"JSON-RPC, the SDK, the client) and {first['run_query']['median_ms']} ms the "
        "database part measured directly; the rest is the key check (a query per request "
        "in runs before the key cache; since, one per ZAVA_KEY_CACHE_SECONDS and key), the "
        "tool's own work (structured "
        "content, untrusted-data fence, metrics, audit record, log line) and scheduling "
        "between three processes on two cores. Per call the server process uses "
        f"{mcp_cpu.get('server')} ms of CPU against the no-op server's "
        f"{noop_cpu.get('server')} ms, and the client {mcp_cpu['client']} ms against "
        f"{noop_cpu['client']} ms (it validates the tool's structured result against its "
        "output schema). With the client, the server and PostgreSQL on the same two "
        "cores, throughput is bounded by the CPU all three spend per call; several server "
        "workers would not add CPU here (on a machine with more cores, `--workers`, see "
        "[scaling.md](scaling.md#several-processes-on-one-host)).",
        "",
        "The database's CPU counts the backends of the benchmark's database, not parallel "
        "workers (they exit before they can be read), so it is short for a query that "
        "uses them. `mcp.run_query` runs the query as the subquery of one statement, which "
        "PostgreSQL may run in parallel as it does the plain query; the two need not get "
        "the same plan: the plain way runs as the administrator, without row level "
        "security, run_query as head office under the policies, whose estimates lead "
        "PostgreSQL to other plans (for top 10 products, index scans of the quarter's "
        "orders instead of hashing every order line: see section 2, where head office's "
        "top 10 is also faster than the owner's plain query).",
    ]


def _markdown_row(way: str, level: dict[str, Any]) -> str:
    cpu = level["cpu_ms_per_call"]
    return (
        f"| {way} | {level['concurrency']} | {level['median_ms']} | {level['p95_ms']} "
        f"| {level['p99_ms']} | {level['throughput_per_s']} | {level['errors']} "
        f"| {cpu.get('server', '-')} | {cpu.get('postgres', '-')} | {cpu['client']} |"
    )


def plots(results: dict[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [
        (f"{way} · {name}", figures[way])
        for name, figures in results["queries"].items()
        for way in ("plain", "run_query", "mcp")
    ] + [("no-op tool", results["noop"])]
    for label, levels in series:
        clients = [level["concurrency"] for level in levels]
        latency.plot(clients, [level["median_ms"] for level in levels], marker="o", label=label)
        throughput.plot(
            clients, [level["throughput_per_s"] for level in levels], marker="o", label=label
        )
    for axis, title, unit in (
        (latency, "median latency", "ms"),
        (throughput, "throughput", "calls/s"),
    ):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("concurrent clients")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    throughput.legend(fontsize=7, loc="lower right")
    return measure.save_figure(figure, directory / "overhead.png", dpi=110)


# What the saved baseline (docs/benchmarks/overhead.before.json) was measured on, against
# the code measured now; rewrite it when measuring a new baseline for another change.
BEFORE_AFTER_TITLE = "Before and after: a call's four statements sent to libpq in one pipeline"
BEFORE_AFTER = (
    "**The change:** `_call_in_pipeline` (server/zava_mcp/calls.py) sends `begin read only`, "
    "the `mcp.*` call, `rollback` and the cleaning to libpq directly, in pipeline mode with "
    "one sync and one flush, instead of through psycopg's pipeline, which waited on the "
    "event loop about twice per statement; the parameters are still dumped by psycopg's "
    "adapters and sent apart from the statement's text. Before is commit 25e84de from a "
    "worktree first on `PYTHONPATH`, after is this checkout, on one database; two runs "
    "each, alternated (before, after, before, after), each figure the mean of two. The "
    "after columns show the family's latest run, whose commit is named below and which "
    "also carries the changes made since (e.g. the policies' one-call InitPlans, section "
    "2); the findings are the figures measured for this change at the time."
)
# A figure this much worse than before is flagged.
WORSE = 0.10
# What the before/after figures showed, and what was measured beyond them to find where
# the time goes (written after the run that saved the figures; rewrite with a new baseline).
BEFORE_AFTER_FINDINGS = (
    "**The direct call shows it** (`run_query` below: calls.Database in the benchmark's "
    "own process, whose CPU is the client's): 0.48, 0.51, 0.53 and 0.48 ms of client CPU "
    "per `select 1` call before against 0.29, 0.32, 0.28 and 0.30 after at 1, 8, 32 and 64 "
    "clients, and 1,175, 1,451, 1,318 and 1,488 calls/s against 1,294, 1,801, 2,245 and "
    "2,008.",
    "**Through the MCP server the whole runs do not**: the server's CPU per `select 1` call "
    "was 1.75, 1.51, 1.60 and 1.85 ms before against 1.79, 1.44, 1.72 and 1.84 after; the "
    "two runs of one side differed by more than the change is worth (1.47 and 2.03 ms "
    "before at one client). This machine (a VM on an AMD EPYC, two cores) changes speed "
    "from minute to minute.",
    "**Counted instead of timed**: under callgrind, which counts instructions whatever the "
    "machine's load, 1,000 calls of `_call_in_pipeline` in a loop on one connection "
    "(`select 1` through `mcp.run_query` as head office) took 595,000 instructions per call "
    "before and 175,000 after, 3.4x fewer. The whole server under callgrind (200 calls at "
    "one client after 30 to warm up, two runs; 400 at 8 clients, one run): 3.89 and 3.54 "
    "million instructions per call before against 3.03 and 3.37 after, and 3.45 against "
    "2.94 at 8 clients; the server's own count moves between runs with its timers (the "
    "audit writer's, the pools').",
    "**Timed side by side**: the two servers running at once and taking turns, 6 rounds of "
    "600 `select 1` calls at 1, 8 and 32 clients, the median round: the server's CPU per "
    "call 2.28 -> 1.84, 1.88 -> 1.39 and 1.78 -> 1.68 ms, PostgreSQL's 0.99 -> 0.88, "
    "0.89 -> 0.75 and 0.83 -> 0.77 (one write to the socket instead of one per statement), "
    "calls/s 184 -> 209, 361 -> 421 and 361 -> 367; the rounds of one side spread more "
    "than that (1.48 to 3.07 ms before at one client). A loop of 3,000 calls on one "
    "connection: 0.29 to 0.32 ms of CPU per call before, 0.075 to 0.089 after.",
    "**Profiles disagree here**: py-spy's non-blocking sampling, `select 1` at 8 clients, "
    "put 37 % of the server's samples before and 32 % after in the pipeline's own frame "
    "(the libpq calls below it); sampling with native frames, which pauses the process at "
    "each sample, found that frame in 3.7 % of its samples after, mostly in `send()`. The "
    "instruction counts above are the figures to trust.",
)


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Before and after a change: the same family measured on the code before it
    (`run.py overhead --save-as before`), level by level, for the MCP tool and for the
    direct call through calls.Database."""
    lines = [
        f"### {BEFORE_AFTER_TITLE}",
        "",
        BEFORE_AFTER,
        "",
        f"Before: commit {before.get('commit') or 'unrecorded'}, {_when(before)}; "
        f"after: commit {after.get('commit') or 'unrecorded'} and the working tree, "
        f"{_when(after)}. A figure of several runs is their mean. "
        "CPU per call moves least with the machine's load. "
        f"**Bold**: more than {WORSE:.0%} worse than before.",
    ]
    for way, title, cpu_fields in (
        (
            "mcp",
            "The MCP tool (`execute_sales_query`, head office's key, a `zava-mcp serve` process)",
            (
                ("server", "server CPU ms/call"),
                ("postgres", "postgres CPU ms/call"),
                (SERVER_PER_CLIENT, "server CPU / client CPU"),
            ),
        ),
        (
            "run_query",
            "The direct call (`calls.Database.call` in the benchmark's process: its CPU is "
            "the per-call code's own)",
            (("client", "calls.Database CPU ms/call"), ("postgres", "postgres CPU ms/call")),
        ),
    ):
        lines += [
            "",
            f"{title}:",
            "",
            "| query | clients | median ms before | after | calls/s before | after "
            + "".join(f"| {label} before | after " for _, label in cpu_fields)
            + "|",
            "|---|---:|---:|---:|---:|---:" + "|---:|---:" * len(cpu_fields) + "|",
        ]
        for name, figures in after["queries"].items():
            old_levels = {
                level["concurrency"]: level
                for level in before["queries"].get(name, {}).get(way, [])
            }
            for level in figures[way]:
                old = old_levels.get(level["concurrency"])
                if not old:
                    continue
                cells = [
                    _pair(old["median_ms"], level["median_ms"], higher_is_worse=True),
                    _pair(
                        old["throughput_per_s"], level["throughput_per_s"], higher_is_worse=False
                    ),
                    *(
                        _pair(_cpu(old, key), _cpu(level, key), higher_is_worse=True)
                        for key, _ in cpu_fields
                    ),
                ]
                lines.append(f"| `{name}` | {level['concurrency']} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- {finding}" for finding in BEFORE_AFTER_FINDINGS)]
    return "\n".join(lines) + "\n"


# The server's CPU per call over the client's: the client (the official MCP SDK) does the
# same work per call before and after, so its CPU measures how fast the shared machine
# ran at that moment, and this ratio cancels that out.
SERVER_PER_CLIENT = "server/client"


def _cpu(level: dict[str, Any], key: str) -> float | None:
    cpu = level["cpu_ms_per_call"]
    if key == SERVER_PER_CLIENT:
        if not cpu.get("server") or not cpu.get("client"):
            return None
        return round(cpu["server"] / cpu["client"], 3)
    value: float | None = cpu.get(key)
    return value


def _when(results: dict[str, Any]) -> str:
    """When a result was measured and under what load (1, 5, 15-minute load averages)."""
    runs = results.get("runs") or [results]
    return (f"{len(runs)} runs: " if len(runs) > 1 else "") + ", ".join(
        f"saved {run['measured_at']} ({measure.load_text(run)})" for run in runs
    )


def _pair(old: float | None, new: float | None, *, higher_is_worse: bool) -> str:
    """'old | new', the new one bold when it is more than WORSE worse than the old."""
    if old is None or new is None:
        return f"{old} | {new}"
    worse = new > old * (1 + WORSE) if higher_is_worse else new < old * (1 - WORSE)
    return f"{old} | **{new}**" if worse else f"{old} | {new}"
