"""Run the benchmarks and write their figures: `python tests/bench/run.py [FAMILY ...]`.

Families: overhead (tool-call cost), rls (row level security cost), vectors (HNSW
search), build (sample data and embeddings), peers (the same questions to other MCP
servers: `--peers-dir` is where it installs them, `--reference-sample` the checkout of
Microsoft's reference sample; see peers.py), memory (the server's PSS with the local
model), scale (the sample at scale 100: build, sizes, the analytic queries; its database is
built once, in about half an hour, and kept). With no family named, all run, one after
another (never side by side: they would measure each other). Each saves
docs/benchmarks/<family>.json; `--report` (or `report` alone) then rewrites
docs/benchmarks.md and its plots from every saved file. `--quick` runs a small version
of each, for a smoke test; its figures are saved apart and never reported. `--save-as
before` keeps a family's figures as the baseline that the report compares the current
ones with: measure it on the code before a change, e.g. with a checkout of the previous
commit first on the path (`git worktree add /tmp/before HEAD~1`, then, in /tmp/before,
`PYTHONPATH=/tmp/before/server python tests/bench/run.py overhead --save-as before`, and
copy /tmp/before/docs/benchmarks/overhead.before.json here). The old code then builds its
own embedded PostgreSQL and databases under /tmp/before/.zava (its project root), with its
own db/, so the two builds never meet. Alternate the two sides (before, after, after,
before) on a shared machine; `python tests/bench/overhead.py --merge OUT IN...` averages
several saved overhead runs into one file. Each saved run records the machine's 1-minute
load sampled during it (load_during).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure
import report

FAMILIES = ("overhead", "rls", "vectors", "build", "peers", "memory", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("families", nargs="*", choices=[*FAMILIES, "report"], metavar="FAMILY")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--report", action="store_true", help="rewrite docs/benchmarks.md after")
    parser.add_argument(
        "--save-as",
        metavar="LABEL",
        help="save as <family>.LABEL.json: 'before' keeps a baseline the report compares with",
    )
    parser.add_argument(
        "--peers-dir",
        metavar="DIR",
        help="peers: where they are installed (ZAVA_BENCH_PEERS_DIR, ~/.cache/zava-bench)",
    )
    parser.add_argument(
        "--reference-sample",
        metavar="PATH",
        help="peers: the reference sample's checkout (ZAVA_BENCH_REFERENCE_SAMPLE)",
    )
    args = parser.parse_args(argv)
    if args.peers_dir:
        os.environ["ZAVA_BENCH_PEERS_DIR"] = args.peers_dir
    if args.reference_sample:
        os.environ["ZAVA_BENCH_REFERENCE_SAMPLE"] = args.reference_sample
    wanted = [name for name in args.families if name != "report"]
    if not wanted and "report" not in args.families:
        wanted = list(FAMILIES)
    for name in wanted:
        print(f"\n=== {name}{' (quick)' if args.quick else ''}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(name)
        with measure.LoadSampler() as load:
            results = module.run(quick=args.quick)
        results["run_seconds"] = round(time.perf_counter() - started, 1)
        results["load_during"] = load.summary()
        path = measure.save_results(name, results, quick=args.quick, label=args.save_as)
        print(f"\n{name}: {results['run_seconds']} s, figures in {path}", flush=True)
    if (args.report or "report" in args.families) and not args.quick:
        print(f"report: {report.write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
