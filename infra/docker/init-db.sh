#!/usr/bin/env bash
# Prepares the database for the server, as its administrator (DATABASE_URL); safe to run
# again. The compose `init` service and the Azure init job (infra/deploy.sh) run it:
#   1. zava-mcp db init               roles, schema, functions, policies from db/
#   2. zava-mcp db seed               the sample data, only while retail.orders is empty
#                                     (and ZAVA_SEED_IF_EMPTY is not false)
#   3. zava-mcp embed --missing-only  product embeddings from the configured model
#   4. the passwords of the login role and of every principal's role (derived from it)
#                                     from ZAVA_SERVER_PASSWORD, when it is set
set -euo pipefail

: "${DATABASE_URL:?set DATABASE_URL to the administrator DSN}"
here=$(cd "$(dirname "$0")" && pwd)

zava-mcp db init

if [[ "${ZAVA_SEED_IF_EMPTY:-true}" != "false" ]]; then
    # As the owner role: row level security hides every row from anyone else.
    status=0
    python - <<'PY' || status=$?
import os
import sys

import psycopg
from psycopg import sql

owner = os.environ.get("ZAVA_OWNER_ROLE") or "zava_owner"
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(owner)))
    seeded = conn.execute("select exists (select from retail.orders)").fetchone()[0]
    conn.rollback()
sys.exit(0 if seeded else 3)
PY
    case "$status" in
        0) echo "init: sample data already loaded (zava-mcp db seed replaces it)" ;;
        3) zava-mcp db seed --scale "${ZAVA_SEED_SCALE:-1}" ;;
        *) exit "$status" ;;
    esac
fi

zava-mcp embed --missing-only

if [[ -n "${ZAVA_SERVER_PASSWORD:-}" ]]; then
    python "$here/set_login_password.py"
else
    echo "init: ZAVA_SERVER_PASSWORD is not set; the login and principal roles keep their passwords"
fi
