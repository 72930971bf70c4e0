"""503 instead of 500 when the database cannot answer a request's own lookups.

The SDK checks a bearer token in its authentication middleware, before any tool runs; a
database restart or outage there would otherwise escape as an unhandled exception, a bare
HTTP 500 with nothing in the log but a traceback. This middleware sits outside the SDK's
and answers such a request 503 with Retry-After, a JSON body that says what happened, a
log line and a metric.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zava_mcp.calls import DatabaseUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


class DatabaseUnavailableMiddleware:
    def __init__(self, app: ASGIApp, on_unavailable: Callable[[], None]) -> None:
        self.app = app
        self.on_unavailable = on_unavailable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DatabaseUnavailable as error:
            if started:  # too late for a status: the stream just ends
                raise
            self.on_unavailable()
            log.warning("answered 503 to %s %s: %s", scope["method"], scope["path"], error)
            body = json.dumps(
                {
                    "error": "temporarily_unavailable",
                    "error_description": f"{error}; try again in a moment",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
