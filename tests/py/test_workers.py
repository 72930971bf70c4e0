"""Several server processes (`zava-mcp serve --workers N --stateless`): both serve, the
limits configured for the server hold across them, a worker that dies is started again,
and SIGTERM stops them all with every audit record written."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import PROJECT_ROOT, SEATTLE, bearer, free_port
from zava_mcp.config import ConfigError, Settings
from zava_mcp.identity import create_key
from zava_mcp.workers import RESTART_GUARD_SECONDS

pytestmark = pytest.mark.anyio

# The whole server's limits; each of the two workers keeps half.
LIMITS = {"ZAVA_PRINCIPAL_POOL_MAX": "2", "ZAVA_PRINCIPAL_CALLS_MAX": "4"}


def test_each_worker_gets_its_share_of_the_limits():
    server = Settings.from_env(
        {"ZAVA_WORKERS": "3", "ZAVA_PRINCIPAL_POOL_MAX": "5", "ZAVA_CONNECTIONS_MAX": "50"}
    ).server
    share = server.worker_share()
    assert (share.principal_pool_max, share.principal_calls_max) == (1, 3)
    assert (share.connections_max, share.http_max_connections, share.pool_max_size) == (16, 166, 3)
    assert share.audit_queue_bytes * 3 <= server.audit_queue_bytes
    assert server.worker_share().workers == 3 and Settings.from_env({}).server.worker_share() == (
        Settings.from_env({}).server
    )
    with pytest.raises(ConfigError, match="between 1 and 64"):
        Settings.from_env({"ZAVA_WORKERS": "0"})


def test_workers_need_stateless_http(seeded):
    settings, _ = seeded
    env = {
        **os.environ,
        "ZAVA_DATA_DIR": str(settings.data_dir),
        "ZAVA_DATABASE": settings.database_name,
    }
    sessions = subprocess.run(
        [sys.executable, "-m", "zava_mcp", "serve", "--workers", "2", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sessions.returncode != 0
    assert "2 workers need --stateless" in sessions.stderr + sessions.stdout


class Workers:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process, self.base_url, self.log = process, base_url, log

    def children(self) -> set[int]:
        pid = self.process.pid
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return {int(child) for child in text.split()}

    def calls_logged(self) -> list[dict[str, object]]:
        lines = self.log.read_text(errors="replace").splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in entries if entry.get("event") == "tool_call"]


@pytest.fixture
def workers(seeded, tmp_path) -> Iterator[Workers]:
    settings, _ = seeded
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "ZAVA_DATA_DIR": str(settings.data_dir),
        "ZAVA_DATABASE": settings.database_name,
        "ZAVA_PORT": str(port),
        **LIMITS,
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "zava_mcp", "serve", "--workers", "2", "--stateless"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=sink,
            stderr=sink,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.3)
        yield Workers(process, base_url, log)
    finally:
        if process.poll() is None:
            left = Workers(process, base_url, log).children()
            process.kill()
            process.wait()
            for child in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)


async def call(url: str, key: str, query: str) -> tuple[bool, str]:
    http = httpx2.AsyncClient(headers=bearer(key), timeout=30)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        result = await client.call_tool("execute_sales_query", {"postgresql_query": query})
    return not result.is_error, result.content[0].text  # type: ignore[union-attr]


async def test_two_workers_serve_and_keep_the_servers_limits_together(seeded, workers):
    _, admin_url = seeded
    key = create_key(admin_url, uuid.UUID(SEATTLE), "workers: limits")[1]
    url = f"{workers.base_url}/mcp"
    assert len(workers.children()) == 2

    # Both serve: new connections go to one or the other.
    for _ in range(60):
        ok, _text = await call(url, key, "select 1")
        assert ok
        if len({entry["pid"] for entry in workers.calls_logged()}) == 2:
            break
    assert {entry["pid"] for entry in workers.calls_logged()} == workers.children()

    # 12 slow calls at once from one principal: the server's limits are 2 connections and
    # 4 calls in flight for a principal, whichever worker each call reaches.
    with psycopg.connect(admin_url) as admin:
        role = admin.execute(
            "select mcp_internal.principal_role(%s)::text", (uuid.UUID(SEATTLE),)
        ).fetchone()[0]  # type: ignore[index]
    busiest = 0
    outcomes: list[tuple[bool, str]] = []

    async def one() -> None:
        outcomes.append(await call(url, key, "select pg_sleep(1.5)"))

    async def watch() -> None:
        nonlocal busiest
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            while len(outcomes) < 12:
                cursor = await admin.execute(
                    "select count(*) from pg_stat_activity where usename = %s and state = 'active'",
                    (role,),
                )
                busiest = max(busiest, (await cursor.fetchone())[0])  # type: ignore[index]
                await anyio.sleep(0.05)

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        for _ in range(12):
            group.start_soon(one)
    answered = [text for ok, text in outcomes if ok]
    refused = [text for ok, text in outcomes if not ok]
    print(f"\nbusiest {busiest} backends, {len(answered)} answered, {len(refused)} refused")
    assert 1 <= busiest <= 2, busiest  # 2: the connections were spread
    assert 2 <= len(answered) <= 4, outcomes
    assert all("too many calls in flight" in text for text in refused), refused


async def test_a_dead_worker_is_replaced_and_sigterm_stops_every_worker(seeded, workers):
    _, admin_url = seeded
    key = create_key(admin_url, uuid.UUID(SEATTLE), "workers: restart")[1]
    url = f"{workers.base_url}/mcp"
    marker = uuid.uuid4().hex
    first = workers.children()
    # A worker that dies right after starting is a fault no restart mends (the parent
    # stops); one that served a while is started again.
    await anyio.sleep(RESTART_GUARD_SECONDS + 0.5)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(workers.children() - {victim}) < 2:
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        await anyio.sleep(0.2)
    replaced = workers.children()
    assert victim not in replaced and len(replaced) == 2
    for n in range(6):
        ok, text = await call(url, key, f"select {n} -- {marker}")
        assert ok, text
    workers.process.send_signal(signal.SIGTERM)
    assert workers.process.wait(timeout=60) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in replaced)
    with psycopg.connect(admin_url) as admin:
        written = admin.execute(
            "select count(*) from mcp_internal.audit_log where query_text like %s",
            (f"%{marker}%",),
        ).fetchone()[0]  # type: ignore[index]
    assert written == 6, written
