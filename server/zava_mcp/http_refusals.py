"""Requests refused before any tool runs: 503 instead of 500 when the database cannot
answer a request's own lookups, and 401s reported.

The SDK checks a bearer token in its authentication middleware, before any tool runs; a
database restart or outage there would otherwise escape as an unhandled exception, a bare
HTTP 500 with nothing in the log but a traceback. This middleware sits outside the SDK's
and answers such a request 503 with Retry-After and a JSON body that says what happened;
it tells `on_unavailable` (log, metric, audit record) and, for every 401 the SDK sends,
`on_unauthorized` (metric, audit count per minute).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zava_mcp.calls import DatabaseUnavailable

RETRY_AFTER_SECONDS = 1


class RefusalsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        on_unavailable: Callable[[Scope, DatabaseUnavailable], None],
        on_unauthorized: Callable[[], None],
    ) -> None:
        self.app = app
        self.on_unavailable = on_unavailable
        self.on_unauthorized = on_unauthorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 401:
                    self.on_unauthorized()
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DatabaseUnavailable as error:
            if started:  # too late for a status: the stream just ends
                raise
            self.on_unavailable(scope, error)
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
