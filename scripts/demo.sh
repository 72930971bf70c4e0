#!/usr/bin/env bash
# Sets everything up and runs the demo on the embedded PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/zava-mcp demo "$@"
