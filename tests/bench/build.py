"""Family 4: building the sample database and embedding it.

- The sample build (`db reset`: schema, then the seed) at scale 1 (the default) and 10,
  each step timed, with the rows and the database size it made. The baseline is scale 1:
  scale 10 is reported as a ratio of it (ten times the rows should cost about ten times).
- Local embeddings (all-MiniLM-L6-v2 on the CPU): texts per second for the product
  descriptions at several batch sizes, against batch size 1 measured in the same run,
  and the whole `zava-mcp embed` of the catalog.
Server memory (idle and under load) is measured by the overhead family, which runs the
server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import measure
import psycopg

from zava_mcp.embeddings import embed_products, provider_from_settings
from zava_mcp.seed import seed

SCALES = (1.0, 10.0)
QUICK_SCALES = (0.02, 0.05)
BATCH_SIZES = (1, 8, 32, 64, 128)
QUICK_BATCH_SIZES = (1, 16)


def build_once(scale: float, quick: bool) -> dict[str, Any]:
    settings = measure.bench_settings(f"zava_bench_build{'_quick' if quick else ''}")
    started = time.perf_counter()
    url = measure.fresh_database(settings)
    schema_seconds = time.perf_counter() - started
    steps: dict[str, float] = {}
    report = seed(
        url,
        scale=scale,
        random_seed=42,
        settings=settings,
        on_step=lambda step, seconds: steps.__setitem__(step, round(seconds, 2)),
    )
    with psycopg.connect(url) as conn:
        size = conn.execute("select pg_database_size(current_database())").fetchone()
    return {
        "scale": scale,
        "schema_seconds": round(schema_seconds, 2),
        "seed_seconds": round(report.seconds, 2),
        "total_seconds": round(schema_seconds + report.seconds, 2),
        "steps": steps,
        "rows": report.counts,
        "database_mib": round(size[0] / 2**20, 1) if size else None,
        "_url": url,
    }


async def embedding_throughput(texts: list[str], batch_sizes: tuple[int, ...]) -> list[dict]:
    base = measure.bench_settings("zava_bench").embeddings
    results = []
    for batch_size in batch_sizes:
        provider = provider_from_settings(dataclasses.replace(base, batch_size=batch_size))
        await provider.warm_up()  # loading the model is not embedding
        await provider.embed(texts[:8])
        started = time.perf_counter()
        vectors = await provider.embed(texts)
        seconds = time.perf_counter() - started
        assert len(vectors) == len(texts) and len(vectors[0]) == provider.dimensions
        await provider.aclose()
        results.append(
            {
                "batch_size": batch_size,
                "texts": len(texts),
                "seconds": round(seconds, 3),
                "texts_per_s": round(len(texts) / seconds, 1),
            }
        )
    baseline = results[0]["texts_per_s"]
    for row in results:
        row["vs_batch_1"] = measure.ratio(row["texts_per_s"], baseline)
    return results


def run(quick: bool = False) -> dict[str, Any]:
    scales = QUICK_SCALES if quick else SCALES
    builds = []
    texts: list[str] = []
    for scale in scales:
        print(f"building the sample at scale {scale:g} ...", flush=True)
        build = build_once(scale, quick)
        url = build.pop("_url")
        builds.append(build)
        if not texts:
            with psycopg.connect(url) as conn:
                texts = [
                    row[0]
                    for row in conn.execute(
                        "select product_name || '. ' || product_description "
                        "from retail.products order by product_id"
                    )
                ]
            whole_embed = asyncio.run(embed_catalog(url))
    baseline = builds[0]["total_seconds"]
    for build in builds:
        build["vs_first_scale"] = measure.ratio(build["total_seconds"], baseline)
    if quick:
        texts = texts[:32]
    throughput = asyncio.run(
        embedding_throughput(texts, QUICK_BATCH_SIZES if quick else BATCH_SIZES)
    )
    results = {"builds": builds, "embedding_throughput": throughput, "embed_catalog": whole_embed}
    report(results)
    return results


async def embed_catalog(url: str) -> dict[str, Any]:
    """`zava-mcp embed` of every product, with the configured (local) model."""
    provider = provider_from_settings(measure.bench_settings("zava_bench").embeddings)
    await provider.warm_up()
    started = time.perf_counter()
    count = await embed_products(url, provider)
    seconds = time.perf_counter() - started
    await provider.aclose()
    return {
        "products": count,
        "seconds": round(seconds, 2),
        "products_per_s": round(count / seconds, 1),
    }


def report(results: dict[str, Any]) -> None:
    measure.print_table(
        "Sample build (schema + seed)",
        ["scale", "orders", "order items", "schema s", "seed s", "total s", "vs first", "MiB"],
        [
            [
                b["scale"],
                b["rows"]["orders"],
                b["rows"]["order_items"],
                b["schema_seconds"],
                b["seed_seconds"],
                b["total_seconds"],
                b["vs_first_scale"],
                b["database_mib"],
            ]
            for b in results["builds"]
        ],
    )
    measure.print_table(
        "Local embeddings (all-MiniLM-L6-v2, CPU)",
        ["batch size", "texts", "seconds", "texts/s", "vs batch 1"],
        [
            [r["batch_size"], r["texts"], r["seconds"], r["texts_per_s"], r["vs_batch_1"]]
            for r in results["embedding_throughput"]
        ],
    )
    whole = results["embed_catalog"]
    print(
        f"\nembed the catalog: {whole['products']} products in {whole['seconds']} s "
        f"({whole['products_per_s']} products/s)"
    )


TARGET_DEFAULT_SECONDS = 60
TARGET_SCALE_10_SECONDS = 600


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## 4. Build and embed",
        "",
        "`db reset` as the demo runs it: the schema (`db init`), then the deterministic seed, "
        "each seed step timed. Ratios against the first scale, measured in the same run.",
        "",
        "| scale | customers | orders | order items | schema s | seed s | total s "
        "| vs first scale | database MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in results["builds"]:
        lines.append(
            f"| {b['scale']:g} | {b['rows']['customers']} | {b['rows']['orders']} "
            f"| {b['rows']['order_items']} | {b['schema_seconds']} | {b['seed_seconds']} "
            f"| {b['total_seconds']} | {b['vs_first_scale']} | {b['database_mib']} |"
        )
    steps = sorted({step for b in results["builds"] for step in b["steps"]})
    lines += [
        "",
        "Seed steps (seconds):",
        "",
        "| step | " + " | ".join(f"scale {b['scale']:g}" for b in results["builds"]) + " |",
        "|---|" + "---:|" * len(results["builds"]),
    ]
    for step in steps:
        cells = " | ".join(str(b["steps"].get(step, "-")) for b in results["builds"])
        lines.append(f"| {step} | {cells} |")
    lines += [
        "",
        "Local embeddings, all-MiniLM-L6-v2 on the CPU (the model loaded beforehand; the "
        "texts are the catalog's names and descriptions, as `zava-mcp embed` sends them):",
        "",
        "| batch size | texts | seconds | texts/s | vs batch size 1 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in results["embedding_throughput"]:
        lines.append(
            f"| {r['batch_size']} | {r['texts']} | {r['seconds']} | {r['texts_per_s']} "
            f"| {r['vs_batch_1']} |"
        )
    whole = results["embed_catalog"]
    lines += [
        "",
        f"`zava-mcp embed` of the whole catalog (embedding and writing): {whole['products']} "
        f"products in {whole['seconds']} s ({whole['products_per_s']} products/s).",
        "",
        "**Targets:**",
        "",
    ]
    lines += [
        f"- {target}: **{measured} — {'met' if met else 'missed'}**."
        for target, measured, met in targets(results)
    ]
    return "\n".join(lines) + "\n"


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, what was measured, met) for the issue's build targets."""
    by_scale = {b["scale"]: b for b in results["builds"]}
    return [
        (
            f"Scale {scale:g} build ≤ {limit} s",
            f"{by_scale[scale]['total_seconds']} s",
            by_scale[scale]["total_seconds"] <= limit,
        )
        for scale, limit in ((1.0, TARGET_DEFAULT_SECONDS), (10.0, TARGET_SCALE_10_SECONDS))
        if scale in by_scale
    ]


def plots(results: dict[str, Any], directory: Path) -> list[Path]:
    return []
