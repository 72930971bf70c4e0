"""The audit trail under pressure: it fails closed when it cannot keep up, a poisoned
record holds back no other, refusals before a tool runs are audited, and a server stopped
with SIGTERM writes every record of what it answered."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import anyio
import httpx2
import psycopg
import pytest

from conftest import (
    INITIALIZE,
    PROJECT_ROOT,
    SEATTLE,
    bearer,
    free_port,
    mcp_client,
    run_server,
    server_settings,
)
from zava_mcp.audit import QUERY_TEXT_CHARS, AuditRecord, AuditTrail
from zava_mcp.calls import Database
from zava_mcp.identity import create_key

pytestmark = pytest.mark.anyio

BEHIND = "the audit trail is behind"


def audit_since(admin_url: str, since: datetime) -> list[tuple]:
    with psycopg.connect(admin_url) as conn:
        return conn.execute(
            "select tool, outcome, error_class, row_count, query_text, rls_user_id::text "
            "from mcp_internal.audit_log where called_at >= %s order by audit_id",
            (since.replace(second=0, microsecond=0),),
        ).fetchall()


async def test_a_full_queue_refuses_new_calls_and_loses_no_record(seeded, local_provider):
    """The audit table locked: records wait in memory up to ZAVA_AUDIT_QUEUE_MB, then new
    calls are refused with a clear error (counted, not queued); once the lock goes, every
    call that ran has its record, the refusals one record per minute, and calls run again."""
    settings, admin_url = seeded
    key = create_key(admin_url, uuid.UUID(SEATTLE), "audit: full queue")[1]
    limit = 100_000
    served_settings = server_settings(settings, audit_queue_bytes=limit)
    marker = uuid.uuid4().hex
    padding = "x" * QUERY_TEXT_CHARS
    answered = refused = 0
    pending_bytes: list[float] = []
    with run_server(served_settings, local_provider) as base_url:
        locker = psycopg.connect(admin_url)
        try:
            locker.execute("lock table mcp_internal.audit_log in access exclusive mode")
            async with mcp_client(f"{base_url}/mcp", bearer(key)) as client:
                for number in range(60):
                    result = await client.call_tool(
                        "execute_sales_query",
                        {"postgresql_query": f"select {number} as n -- {marker} {padding}"},
                    )
                    text = result.content[0].text
                    if result.is_error:
                        assert BEHIND in text and "try again" in text, text
                        refused += 1
                    else:
                        assert refused == 0, "a call ran after calls were refused"
                        answered += 1
                async with httpx2.AsyncClient() as http:
                    metrics = (await http.get(f"{base_url}/metrics")).text
                pending_bytes += [
                    float(line.split()[-1])
                    for line in metrics.splitlines()
                    if line.startswith("zava_audit_pending_bytes ")
                ]
        finally:
            locker.rollback()  # the lock goes: the writer catches up
            locker.close()
        async with mcp_client(f"{base_url}/mcp", bearer(key)) as client:
            deadline = time.monotonic() + 20
            while True:
                again = await client.call_tool(
                    "execute_sales_query", {"postgresql_query": f"select 'again' -- {marker}"}
                )
                if not again.is_error or time.monotonic() > deadline:
                    break
                refused += 1  # still behind: refused and counted like the others
                await anyio.sleep(0.2)
    print(
        f"\naudit table locked: {answered} calls answered, {refused} refused; "
        f"queued {pending_bytes} bytes (limit {limit})"
    )
    assert not again.is_error, again.content[0].text
    assert answered and refused, (answered, refused)
    # At the limit, plus the one record that crossed it.
    assert pending_bytes and limit <= pending_bytes[0] < limit + 2 * (QUERY_TEXT_CHARS * 2)
    with psycopg.connect(admin_url) as conn:
        ran = conn.execute(
            "select count(*) from mcp_internal.audit_log where query_text like %s "
            "and outcome = 'ok'",
            (f"%{marker}%",),
        ).fetchone()
        counted = conn.execute(
            "select sum(row_count) from mcp_internal.audit_log where tool = "
            "'execute_sales_query' and error_class = 'AuditBehind' and request_id like 'counted-%%'"
        ).fetchone()
    assert ran == (answered + 1,), "a call that ran has no record"
    assert counted == (refused,), "the refusals were not counted"


async def test_a_record_the_database_refuses_holds_back_no_other(seeded, caplog):
    """A record PostgreSQL cannot store (a duration beyond numeric(12, 2)) is written
    alone, refused, and logged in full; the records around it are written."""
    database = Database.from_settings(seeded[0])
    await database.open()
    audit = AuditTrail(database, 10_000_000)
    audit.start()
    marker = uuid.uuid4().hex

    def record(name: str, duration_ms: float) -> AuditRecord:
        return AuditRecord(
            called_at=datetime.now(UTC),
            request_id=f"{marker}-{name}",
            rls_user_id=None,
            tool="execute_sales_query",
            query_sha256=None,
            query_text=f"{marker} {name}",
            duration_ms=duration_ms,
            row_count=1,
            outcome="ok",
            error_class=None,
        )

    try:
        with caplog.at_level(logging.ERROR, logger="zava_mcp.audit"):
            for name, duration in (("before", 1.0), ("poisoned", 1e15), ("after", 2.0)):
                audit.record(record(name, duration))
            await audit.flush(timeout=20)
    finally:
        await audit.stop()
        await database.close()
    with psycopg.connect(seeded[1]) as conn:
        written = conn.execute(
            "select request_id, query_text from mcp_internal.audit_log where request_id like %s "
            "order by audit_id",
            (f"{marker}-%",),
        ).fetchall()
    assert [row[0] for row in written] == [f"{marker}-before", f"{marker}-after"]
    assert audit.unwritten == 1
    [unwritten] = [r for r in caplog.records if getattr(r, "fields", {}).get("event")]
    assert unwritten.fields["record"]["request_id"] == f"{marker}-poisoned"  # type: ignore[attr-defined]


async def test_sigterm_writes_the_record_of_everything_answered(seeded):
    """`zava-mcp serve` stopped with SIGTERM right after answering: the records of its
    calls, of a call refused for its arguments, and the per-minute count of its 401s are
    all in the table once it has exited."""
    settings, admin_url = seeded
    key = create_key(admin_url, uuid.UUID(SEATTLE), "audit: sigterm")[1]
    port = free_port()
    started_at = datetime.now(UTC)
    marker = uuid.uuid4().hex
    env = {
        **os.environ,
        "ZAVA_DATA_DIR": str(settings.data_dir),
        "ZAVA_DATABASE": settings.database_name,
        "ZAVA_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "zava_mcp", "serve"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx2.AsyncClient() as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if (await http.get(f"{base_url}/healthz")).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert server.poll() is None, server.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the server did not start"
                await anyio.sleep(0.3)
            statuses = [
                (
                    await http.post(f"{base_url}/mcp", headers=bearer("zava_wrong"), json={})
                ).status_code
                for _ in range(13)
            ]
        async with mcp_client(f"{base_url}/mcp", bearer(key)) as client:
            answers = [
                await client.call_tool(
                    "execute_sales_query", {"postgresql_query": f"select {n} -- {marker}"}
                )
                for n in range(5)
            ]
            invalid = await client.call_tool(
                "execute_sales_query", {"postgresql_query": "select 1", "max_rows": 0}
            )
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert statuses == [401] * 13
    assert not any(answer.is_error for answer in answers)
    assert invalid.is_error
    assert invalid.content[0].text == (
        "invalid arguments for execute_sales_query: max_rows: Input should be greater than "
        "or equal to 1"
    )
    # uvicorn shuts down gracefully, then raises the signal again: the status says SIGTERM.
    assert server.returncode in (0, -signal.SIGTERM), stderr.decode()[-2000:]
    assert b"not written" not in stderr
    rows = audit_since(admin_url, started_at)
    ours = [row for row in rows if row[4] and marker in row[4]]
    assert [(row[0], row[1]) for row in ours] == [("execute_sales_query", "ok")] * 5
    assert ("execute_sales_query", "refused", "InvalidArguments", None, None, SEATTLE) in rows
    assert any(row[:4] == ("http", "unauthenticated", "HTTP 401", 13) for row in rows), [
        row for row in rows if row[0] == "http"
    ]


async def test_a_lone_surrogate_is_refused_before_any_tool_runs(served):
    """JSON can spell a lone surrogate (`\\ud800`), which no UTF-8 text (and no PostgreSQL
    text) can hold: the request is refused as unparsable, 400, and no tool runs."""
    marker = uuid.uuid4().hex
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        **bearer(served.keys["Seattle"]),
    }
    call = (
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": '
        '"execute_sales_query", "arguments": {"postgresql_query": '
        f'"select 1 -- {marker} \\ud800"}}}}}}'
    )
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(served.url, json=INITIALIZE, headers=headers)
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
        answer = await http.post(served.url, content=call.encode(), headers={**headers, **session})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == -32700, answer.text
    await anyio.sleep(1)
    with psycopg.connect(served.admin_url) as conn:
        rows = conn.execute(
            "select 1 from mcp_internal.audit_log where query_text like %s", (f"%{marker}%",)
        ).fetchall()
    assert rows == []
