"""A third-party MCP client works: the official TypeScript SDK (tests/ts/client.mjs, pinned
in tests/ts/package-lock.json) connects over Streamable HTTP with an API key, lists the tools
(whose schemas Ajv's strict mode accepts) and calls execute_sales_query, seeing only its
principal's rows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import SEATTLE, STORE_IDS, TOOLS

TS_DIR = Path(__file__).resolve().parents[1] / "ts"
CLIENT = TS_DIR / "client.mjs"
TIMEOUT_SECONDS = 120
ORDERS_BY_STORE = "select store_id, count(*) from retail.orders group by 1"


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(
            f"`{program}` is not on PATH: the TypeScript client test needs Node.js 20+ and npm",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with tests/ts's locked dependencies installed (npm ci) if missing."""
    node = _require("node")
    if not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        npm = _require("npm")
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=TS_DIR,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {TS_DIR} took over {TIMEOUT_SECONDS} s", pytrace=False)
        if done.returncode != 0:
            pytest.fail(
                f"`npm ci` in {TS_DIR} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
    return node


def run_client(node: str, url: str, key: str, query: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAVA_MCP_")}
    return subprocess.run(
        [node, str(CLIENT), url, key, query],
        cwd=TS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )


def client_output(node: str, url: str, key: str, query: str) -> dict[str, Any]:
    done = run_client(node, url, key, query)
    assert done.returncode == 0, (
        f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def orders_by_store(output: dict[str, Any]) -> dict[int, int]:
    result = output["result"]
    assert result["isError"] is False, result["text"]
    assert result["structuredContent"]["truncated"] is False
    return {store: count for store, count in result["structuredContent"]["rows"]}


def test_the_typescript_client_lists_tools_and_sees_only_its_rows(served, node):
    with psycopg.connect(served.admin_url) as conn:
        expected = dict(conn.execute(ORDERS_BY_STORE).fetchall())
    assert len(expected) == 8
    seattle = STORE_IDS[SEATTLE]

    output = client_output(node, served.url, served.keys["Seattle"], ORDERS_BY_STORE)
    assert set(output["tools"]) == TOOLS
    assert len(output["tools"]) == len(TOOLS)
    # Every tool's input and output schema compiles in Ajv's strict mode (which refused
    # execute_sales_query's list of types for a row's values as a union type).
    assert output["schemaProblems"] == {}
    assert orders_by_store(output) == {seattle: expected[seattle]}
    # The table sits inside the untrusted-data boundaries (line 0 explains them, line 1 opens them).
    assert output["result"]["text"].splitlines()[2] == "store_id\tcount"

    output = client_output(node, served.url, served.keys["head office"], ORDERS_BY_STORE)
    assert set(output["tools"]) == TOOLS
    assert orders_by_store(output) == expected


def test_the_typescript_client_fails_with_a_wrong_key(served, node):
    done = run_client(node, served.url, "zava_not-a-real-key", "select 1")
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    print(f"\nthe TypeScript client says: {done.stderr.strip()[:400]}")
    # The server's description reaches the user: the key is wrong, not the OAuth setup.
    assert "the API key is unknown, expired or revoked" in done.stderr, done.stderr
