#!/usr/bin/env bash
# Sets everything up and runs every test: sqlfluff, ruff and mypy (the server and the
# benchmarks), pgTAP (pg_prove) and pytest, against a private embedded PostgreSQL under
# .zava/test-pgdata.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"

# The tests' own database, never the one the demo uses or DATABASE_URL.
unset DATABASE_URL
export ZAVA_DATA_DIR="$PWD/.zava/test-pgdata"
export ZAVA_DATABASE=zava_test
# Leave no server behind (the next run starts it again in about a second).
trap 'zava-mcp db stop >/dev/null 2>&1 || true' EXIT

echo "== lint"
sqlfluff lint db tests/sql
ruff check server tests/py tests/bench
ruff format --check server tests/py tests/bench
mypy

echo "== database"
zava-mcp db reset --scale 0.05
url=$(zava-mcp db url)
bin_dir=$(python -c 'from zava_mcp.database import embedded_bin_dir; print(embedded_bin_dir())')
# Debian's pgTAP is built for its own PostgreSQL; it is plain SQL, so the embedded
# PostgreSQL 18 loads it from there.
pgtap_share=$(dirname "$(dirname "$(ls /usr/share/postgresql/*/extension/pgtap.control | tail -n 1)")")
"$bin_dir/psql" "$url" -q -v ON_ERROR_STOP=1 \
    -c "alter system set extension_control_path = '\$system:$pgtap_share'" \
    -c "select pg_reload_conf()" >/dev/null
"$bin_dir/psql" "$url" -q -v ON_ERROR_STOP=1 -c "create extension if not exists pgtap" >/dev/null

echo "== pgTAP"
# pg_prove takes no connection URI: hand it the parts as libpq's environment variables.
eval "$(python - "$url" <<'PY'
import shlex, sys
from psycopg.conninfo import conninfo_to_dict
parts = conninfo_to_dict(sys.argv[1])
for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("dbname", "PGDATABASE")):
    if parts.get(key):
        print(f"export {variable}={shlex.quote(str(parts[key]))}")
PY
)"
pg_prove --psql-bin "$bin_dir/psql" tests/sql/*.sql

echo "== pytest"
pytest "$@"
