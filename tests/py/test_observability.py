"""What operators see: the audit trail, Prometheus metrics and JSON logs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import anyio
import httpx2
import psycopg
import pytest

from conftest import bearer, mcp_client
from zava_mcp.audit import QUERY_TEXT_CHARS, AuditTrail
from zava_mcp.calls import Database, TooManyCalls
from zava_mcp.observability import CallObserver, JsonFormatter, Metrics, outcome_of

pytestmark = pytest.mark.anyio


def audit_rows(admin_url: str, marker: str) -> list[tuple]:
    with psycopg.connect(admin_url) as conn:
        return conn.execute(
            "select rls_user_id::text, tool, outcome, error_class, query_sha256, row_count, duration_ms "
            "from mcp_internal.audit_log where query_text like %s order by audit_id",
            (f"%{marker}%",),
        ).fetchall()


async def wait_for_audit(
    admin_url: str, marker: str, count: int, seconds: float = 30
) -> list[tuple]:
    deadline = time.monotonic() + seconds
    while True:
        rows = audit_rows(admin_url, marker)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await anyio.sleep(0.2)


async def test_every_call_is_audited_with_its_outcome(served):
    marker = uuid.uuid4().hex
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
        await client.call_tool(
            "execute_sales_query", {"postgresql_query": f"select '{marker}' as m"}
        )
        await client.call_tool(
            "execute_sales_query", {"postgresql_query": f"select '{marker}'; select 1"}
        )
        await client.call_tool(
            "execute_sales_query", {"postgresql_query": f"select pg_sleep(30), '{marker}'"}
        )
    rows = await wait_for_audit(served.admin_url, marker, 3)
    assert [(row[0], row[1], row[2]) for row in rows] == [
        ("f47ac10b-58cc-4372-a567-0e02b2c3d479", "execute_sales_query", "ok"),
        ("f47ac10b-58cc-4372-a567-0e02b2c3d479", "execute_sales_query", "refused"),
        ("f47ac10b-58cc-4372-a567-0e02b2c3d479", "execute_sales_query", "timeout"),
    ]
    assert rows[0][3] is None and rows[1][3] == "CallRefused" and rows[2][3] == "BudgetExceeded"
    assert len(rows[0][4]) == 64 and rows[0][5] == 1
    assert rows[2][6] >= served.settings.server.time_budget_seconds * 1000 * 0.9


async def test_a_burst_of_calls_loses_no_record(served):
    marker = uuid.uuid4().hex
    calls = 120

    # As many at once as one caller may have in flight (more would be refused, by design).
    in_flight = asyncio.Semaphore(served.settings.server.principal_calls_max)

    async def one(client, i: int) -> None:
        async with in_flight:
            result = await client.call_tool(
                "execute_sales_query", {"postgresql_query": f"select '{marker}-{i}'"}
            )
        assert not result.is_error, result.content

    async with mcp_client(served.url, bearer(served.keys["Redmond"])) as client:
        await asyncio.gather(*(one(client, i) for i in range(calls)))
    rows = await wait_for_audit(served.admin_url, marker, calls)
    assert len(rows) == calls


async def test_recording_never_fails_a_call_and_catches_up(served):
    """With the audit function out of reach, calls still succeed; once it is back, the
    records that waited are written."""
    marker = uuid.uuid4().hex
    with psycopg.connect(served.admin_url, autocommit=True) as conn:
        conn.execute("revoke execute on function mcp_internal.record_audit(jsonb) from zava_server")
    try:
        async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
            for i in range(5):
                result = await client.call_tool(
                    "execute_sales_query", {"postgresql_query": f"select '{marker}-{i}'"}
                )
                assert not result.is_error
        await anyio.sleep(1)
        assert audit_rows(served.admin_url, marker) == []
    finally:
        with psycopg.connect(served.admin_url, autocommit=True) as conn:
            conn.execute(
                "grant execute on function mcp_internal.record_audit(jsonb) to zava_server"
            )
    rows = await wait_for_audit(served.admin_url, marker, 5, seconds=60)
    assert len(rows) == 5


async def test_head_office_reads_the_audit_log_and_managers_cannot(served):
    marker = uuid.uuid4().hex
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
        await client.call_tool("execute_sales_query", {"postgresql_query": f"select '{marker}'"})
        denied = await client.call_tool(
            "execute_sales_query", {"postgresql_query": "select * from mcp.audit_log()"}
        )
    assert denied.is_error and "only head office may read the audit log" in denied.content[0].text
    await wait_for_audit(served.admin_url, marker, 1)
    async with mcp_client(served.url, bearer(served.keys["head office"])) as client:
        result = await client.call_tool(
            "execute_sales_query",
            {
                "postgresql_query": "select store_name, tool, outcome from mcp.audit_log() "
                f"where query_text = 'select ''{marker}'''"
            },
        )
    assert result.structured_content["rows"] == [
        ["Zava Retail Seattle", "execute_sales_query", "ok"]
    ]


async def test_metrics_show_calls_refusals_embeddings_and_the_pool(served):
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
        await client.call_tool("execute_sales_query", {"postgresql_query": "select 1"})
        await client.call_tool("execute_sales_query", {"postgresql_query": "select 1; select 2"})
        await client.call_tool(
            "execute_sales_query", {"postgresql_query": "delete from retail.orders"}
        )
        await client.call_tool("semantic_search_products", {"query_description": "pipe wrench"})
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{served.base_url}/metrics")
    assert response.status_code == 200
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['zava_tool_calls_total{outcome="ok",tool="execute_sales_query"}'] >= 1
    assert samples['zava_tool_calls_total{outcome="refused",tool="execute_sales_query"}'] >= 2
    assert samples['zava_refusals_total{property="one-query"}'] >= 2
    assert samples['zava_embedding_calls_total{outcome="ok"}'] >= 1
    assert samples['zava_tool_call_seconds_count{tool="execute_sales_query"}'] >= 3
    assert samples['zava_rows_returned_count{tool="semantic_search_products"}'] >= 1
    assert samples["zava_pool_connections"] >= 1
    assert "zava_pool_in_use" in samples and "zava_pool_waiting" in samples


async def test_logs_are_json_with_request_id_and_store_never_the_key(served, caplog):
    caplog.set_level(logging.INFO, logger="zava_mcp.calls")
    key = served.keys["Seattle"]
    async with mcp_client(served.url, bearer(key)) as client:
        await client.call_tool("list_tables", {})
    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if getattr(r, "fields", {}).get("tool") == "list_tables"]:
        assert time.monotonic() < deadline, "no log record for the call"
        await anyio.sleep(0.1)
    record = next(
        r for r in caplog.records if getattr(r, "fields", {}).get("tool") == "list_tables"
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "tool_call" and line["outcome"] == "ok"
    assert line["store"] == "Zava Retail Seattle"
    assert len(line["request_id"]) == 32
    assert line["rows"] == 9
    assert key not in json.dumps(line)
    assert all(key not in r.getMessage() for r in caplog.records)


def test_outcomes_name_the_property_that_refused():
    from zava_mcp.calls import BudgetExceeded, CallRefused
    from zava_mcp.identity import IdentityError

    assert outcome_of(None) == ("ok", None, None)
    assert outcome_of(IdentityError("x"))[::2] == ("unauthenticated", "identity")
    assert outcome_of(BudgetExceeded("x"))[::2] == ("timeout", "bounded-cost")
    assert outcome_of(TooManyCalls("x"))[::2] == ("refused", "bounded-cost")
    assert outcome_of(CallRefused("mcp.run_query only reads: ..."))[2] == "nothing-written"
    assert outcome_of(CallRefused("mcp.run_query runs exactly one query: ..."))[2] == "one-query"
    assert outcome_of(CallRefused("permission denied for table x"))[2] == "least-privilege"
    assert outcome_of(CallRefused('column "x" does not exist'))[2] == "invalid-input"


async def test_tool_calls_become_opentelemetry_spans(
    seeded, local_provider, embedded_products, monkeypatch
):
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, each call is exported as a span over OTLP/HTTP
    (to a real HTTP receiver here), flushed when the server stops."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from conftest import SEATTLE, run_server, server_settings
    from local_http import serving
    from zava_mcp.identity import create_key

    received: list[bytes] = []

    async def traces(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
    _, key = create_key(seeded[1], uuid.UUID(SEATTLE), "test: otel")
    with serving(receiver) as receiver_url:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver_url)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "zava-mcp-test")
        with run_server(server_settings(seeded[0]), local_provider) as base_url:
            async with mcp_client(f"{base_url}/mcp", bearer(key)) as client:
                await client.call_tool("execute_sales_query", {"postgresql_query": "select 1"})
        # The server has stopped, so its span processor has flushed.
    body = b"".join(received)
    assert b"tool execute_sales_query" in body
    assert b"zava-mcp-test" in body
    assert b"Zava Retail Seattle" in body
    assert key.encode() not in body


async def test_a_queued_audit_record_keeps_no_more_of_a_query_than_the_table(seeded):
    """A record waits in memory until it is written: it holds the query's first
    QUERY_TEXT_CHARS characters (what the table keeps) and the hash of all of it, so a
    flood of huge queries while the database is slow cannot fill the server's memory."""
    database = Database.from_settings(seeded[0])
    audit = AuditTrail(database, 10_000_000)  # not started: the record stays queued
    observer = CallObserver(database, Metrics(database), audit)
    query = "select 1 -- " + "x" * 3_000_000
    await observer.finished(
        tool="execute_sales_query",
        request_id="r1",
        principal=None,
        text=query,
        called_at=datetime.now(UTC),
        seconds=0.01,
        rows=1,
        error=None,
    )
    [record] = audit.pending
    assert record.query_text == query[:QUERY_TEXT_CHARS]
    assert record.query_sha256 == hashlib.sha256(query.encode()).hexdigest()
