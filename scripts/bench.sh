#!/usr/bin/env bash
# Runs the benchmarks and rewrites docs/benchmarks.md from their figures.
#   scripts/bench.sh                  every family, one after another, then the report
#   scripts/bench.sh overhead rls     only these families, then the report
#   scripts/bench.sh report           only the report, from docs/benchmarks/*.json
# Families: overhead, rls, vectors, build, peers, memory, scale. They use an embedded PostgreSQL of
# their own under .zava/bench-pgdata; the large vector databases and the scale-100 sample are
# built once and kept there.
# peers installs the other servers under ~/.cache/zava-bench (--peers-dir); see
# tests/bench/peers.py for the reference sample's checkout (--reference-sample).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test  # --test: the memory family measures torch as its baseline
exec .venv/bin/python tests/bench/run.py --report "$@"
