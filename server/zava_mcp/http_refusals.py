"""Requests refused before any tool runs: 503 instead of 500 when the database cannot
answer a request's own lookups, and 401s that say what was wrong.

The SDK checks a bearer token in its authentication middleware, before any tool runs; a
database restart or outage there would otherwise escape as an unhandled exception, a bare
HTTP 500 with nothing in the log but a traceback. This middleware sits outside the SDK's
and answers such a request 503 with Retry-After and a JSON body that says what happened;
it tells `on_unavailable` (log, metric, audit record) and, for every 401 the SDK sends,
`on_unauthorized` (metric, audit count per minute).

The SDK's 401 says "Authentication required" whatever happened, and points the client at
OAuth (`resource_metadata`), so a client given a wrong key starts an OAuth sign-in that
cannot succeed. Here a 401 says whether a key was missing or is unknown, expired or
revoked (RFC 6750: no error code when no credentials came, `invalid_token` otherwise), and
names the OAuth metadata only when JWT sign-in is configured (`oauth`).
"""

from __future__ import annotations

import json
import re
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
        oauth: bool,
    ) -> None:
        self.app = app
        self.on_unavailable = on_unavailable
        self.on_unauthorized = on_unauthorized
        self.oauth = oauth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        replaced_body: bytes | None = None

        async def tracking_send(message: Message) -> None:
            nonlocal started, replaced_body
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 401:
                    self.on_unauthorized()
                    message, replaced_body = self._unauthorized(scope, message)
            elif message["type"] == "http.response.body" and replaced_body is not None:
                if message.get("more_body"):
                    return  # the SDK's own body is replaced by ours, sent with its last part
                message = {"type": "http.response.body", "body": replaced_body}
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

    def _unauthorized(self, scope: Scope, start: Message) -> tuple[Message, bytes]:
        """The SDK's 401 start, with a WWW-Authenticate and a body that say what was wrong."""
        headers = dict(start.get("headers", []))
        token = _bearer_token(scope)
        if token is None:
            error = None
            description = (
                "no API key: send the header 'Authorization: Bearer <key>' "
                "(`zava-mcp keys create` makes one)"
            )
        elif token.startswith("zava_") or not self.oauth:
            error = "invalid_token"
            description = (
                "the API key is unknown, expired or revoked: ask for a new one "
                "(`zava-mcp keys create`)"
            )
        else:
            error = "invalid_token"
            description = (
                "the token is not accepted: not a JWT of the configured issuer and audience, "
                "badly signed, or expired"
            )
        parts = ['realm="zava-mcp"']
        if error:
            parts.append(f'error="{error}"')
        parts.append(f'error_description="{description}"')
        original = headers.get(b"www-authenticate", b"").decode("latin-1")
        metadata = re.search(r'resource_metadata="[^"]*"', original)
        if self.oauth and metadata:
            parts.append(metadata.group(0))
        body = json.dumps(
            {"error": error or "invalid_request", "error_description": description}
        ).encode()
        headers[b"www-authenticate"] = ("Bearer " + ", ".join(parts)).encode("latin-1")
        headers[b"content-length"] = str(len(body)).encode()
        headers[b"content-type"] = b"application/json"
        return {**start, "headers": list(headers.items())}, body


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None
