"""How the HTTP app is served: uvicorn, with the limits a server on a network needs.

uvicorn bounds connections (`limit_concurrency`: a request beyond it is answered 503) and
the idle time between requests (`timeout_keep_alive`), but waits forever on a connection
that never sends a request and on a request whose headers or body trickle in (a client
sending one byte a second holds a connection, and memory, as long as it likes).
DeadlineProtocol adds both: a new connection gets the idle timeout to start a request,
and a request must arrive whole (headers and body) within the read timeout of its first
byte; otherwise the connection is closed. A response, however long it streams, is not
limited: the time budget bounds the work behind it.

Requests are parsed by httptools (llhttp, in C) and the event loop is uvloop (libuv) where
it is installed (not on Windows): 15 to 17 % less server CPU per tool call than h11 on
asyncio's loop (docs/benchmarks.md, section 1).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from zava_mcp.config import ServerSettings

log = logging.getLogger(__name__)


def uvicorn_config(app: Any, server: ServerSettings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for the app, with the server's HTTP limits."""
    read_seconds = server.http_read_timeout_seconds

    class Protocol(DeadlineProtocol):
        request_read_seconds = read_seconds

    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "http": Protocol,
        "loop": "auto",  # uvloop when installed
        "limit_concurrency": server.http_max_connections,
        "timeout_keep_alive": server.http_idle_timeout_seconds,
        "log_level": "warning",
    }
    return uvicorn.Config(app, **(options | overrides))


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, with deadlines for a request to start and to arrive."""

    request_read_seconds: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_deadline: asyncio.TimerHandle | None = None
        # Until its first request, a connection is idle like one between requests.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def on_message_begin(self) -> None:
        # The parser has the first byte of a request: all of it must arrive in time.
        super().on_message_begin()
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(
                self.request_read_seconds, self._request_read_timed_out
            )

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _request_read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        log.warning(
            "closed a connection from %s: its request did not arrive within %g s",
            ":".join(map(str, self.client)) if self.client else "unknown",
            self.request_read_seconds,
        )
        self.transport.close()
