"""HTTP limits of `zava-mcp serve` (server/zava_mcp/http_server.py), attacked over real
sockets: a connection that never sends a request and a request that trickles in are
closed in time, a malformed request is answered 400, pipelined requests are each
answered, a connection over the limit is answered 503, MCP sessions are bounded, and a
tool call longer than the read timeout is not cut short."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import INITIALIZE, bearer, run_server, server_settings

pytestmark = pytest.mark.anyio

READ_SECONDS = 1.5
IDLE_SECONDS = 1.0
MAX_CONNECTIONS = 6
MAX_SESSIONS = 3


@pytest.fixture(scope="module")
def limited(seeded, local_provider) -> Iterator[str]:
    settings = server_settings(
        seeded[0],
        http_read_timeout_seconds=READ_SECONDS,
        http_idle_timeout_seconds=IDLE_SECONDS,
        http_max_connections=MAX_CONNECTIONS,
        max_sessions=MAX_SESSIONS,
    )
    with run_server(settings, local_provider) as base_url:
        yield base_url


def connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def closed_after(sock: socket.socket, trickle: bytes = b"", every: float = 0.2) -> float:
    """Send `trickle` one byte every `every` seconds (then nothing); return how long the
    server took to close the connection."""
    started = time.monotonic()
    sock.setblocking(False)
    sent = 0
    while time.monotonic() - started < 10:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if sent < len(trickle):
            try:
                sock.send(trickle[sent : sent + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
        time.sleep(every)
    raise AssertionError("the server kept the connection open for 10 s")


def test_a_connection_that_never_sends_a_request_is_closed(limited):
    with connect(limited) as sock:
        seconds = closed_after(sock)
    print(f"\nsilent connection closed after {seconds:.2f} s (idle timeout {IDLE_SECONDS} s)")
    assert seconds < IDLE_SECONDS + 1


def test_headers_that_trickle_in_are_cut_off(limited):
    request = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
    with connect(limited) as sock:
        seconds = closed_after(sock, request)
    print(f"\ntrickling headers cut off after {seconds:.2f} s (read timeout {READ_SECONDS} s)")
    assert READ_SECONDS - 0.2 < seconds < READ_SECONDS + 1


def test_a_body_that_trickles_in_is_cut_off(limited):
    with connect(limited) as sock:
        sock.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n"
        )
        seconds = closed_after(sock, b"{" + b" " * 999)
    print(f"\ntrickling body cut off after {seconds:.2f} s (read timeout {READ_SECONDS} s)")
    assert seconds < READ_SECONDS + 1


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    sock.settimeout(10)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_malformed_request_is_answered_400_and_the_connection_closed(limited):
    with connect(limited) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


def test_pipelined_requests_are_each_answered(limited):
    """Two requests in one packet are both answered; the idle connection is then closed."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(limited) as sock:
        sock.sendall(request * 2)
        answer = read_until_closed(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer


async def test_connections_over_the_limit_are_answered_503(limited):
    hogs = [connect(limited) for _ in range(MAX_CONNECTIONS)]
    try:
        for hog in hogs:
            hog.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers unfinished
        async with httpx2.AsyncClient() as http:
            refused = await http.get(f"{limited}/healthz")
    finally:
        for hog in hogs:
            hog.close()
    assert refused.status_code == 503
    time.sleep(0.3)  # the hogs' connections are gone
    async with httpx2.AsyncClient() as http:
        assert (await http.get(f"{limited}/healthz")).status_code == 200


async def test_sessions_are_bounded_and_a_slow_call_is_not_cut_short(limited, served):
    headers = {"Accept": "application/json, text/event-stream", **bearer(served.keys["Seattle"])}
    async with httpx2.AsyncClient() as http:
        statuses = [
            (await http.post(f"{limited}/mcp", json=INITIALIZE, headers=headers)).status_code
            for _ in range(MAX_SESSIONS + 1)
        ]
        assert statuses[:MAX_SESSIONS] == [200] * MAX_SESSIONS
        assert statuses[MAX_SESSIONS] == 503
    # The call below uses the modern protocol, which opens no session, and runs longer
    # than the read timeout.
    http = httpx2.AsyncClient(headers=bearer(served.keys["Seattle"]))
    modern = Client(streamable_http_client(f"{limited}/mcp", http_client=http), mode="2026-07-28")
    async with modern as client:
        result = await client.call_tool(
            "execute_sales_query",
            {"postgresql_query": f"select pg_sleep({READ_SECONDS + 1}) is null as slept"},
        )
    assert not result.is_error, result.content[0].text
