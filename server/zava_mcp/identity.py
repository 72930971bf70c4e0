"""Who is calling: API keys (the default) or, for local use, the reference's header.

Both fail closed: no credential, a bad one, a revoked or expired key, a malformed header
all end in a refusal, never in head office's view.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier

from zava_mcp.calls import Database

KEY_PREFIX = "zava_"
HEADER = "x-rls-user-id"


class IdentityError(Exception):
    """The caller could not be identified; the message says what to fix."""


def new_api_key() -> str:
    """A fresh key: 256 random bits, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    """What the database stores and compares: the key's SHA-256 (keys are random, so a
    fast hash is enough; nothing to salt)."""
    return hashlib.sha256(key.encode()).digest()


class ApiKeyVerifier(TokenVerifier):
    """Checks a bearer token against mcp_internal.api_keys through the login role.

    A key found valid is accepted again without a lookup for `cache_seconds` (a database
    round trip saved on every request of a busy client), so a key revoked or expired
    meanwhile stops working within that time. Keys found invalid are not remembered: a
    new key works at once."""

    MAX_CACHED = 10_000  # distinct keys remembered; the oldest go first

    def __init__(self, database: Database, cache_seconds: float = 0.0) -> None:
        self.database = database
        self.cache_seconds = cache_seconds
        # key hash -> (principal, when it was checked); in order of checking.
        self._valid: OrderedDict[bytes, tuple[uuid.UUID, float]] = OrderedDict()

    async def verify_token(self, token: str) -> AccessToken | None:
        if not token.startswith(KEY_PREFIX) or len(token) > 200:
            return None
        key_hash = hash_key(token)
        principal = self._cached(key_hash)
        if principal is None:
            principal = await self.database.authenticate_key(key_hash)
            if principal is None:
                return None
            self._remember(key_hash, principal)
        return AccessToken(token=token, client_id="api-key", scopes=[], subject=str(principal))

    def _cached(self, key_hash: bytes) -> uuid.UUID | None:
        found = self._valid.get(key_hash)
        if found is None or time.monotonic() - found[1] >= self.cache_seconds:
            return None
        return found[0]

    def _remember(self, key_hash: bytes, principal: uuid.UUID) -> None:
        if self.cache_seconds <= 0:
            return
        now = time.monotonic()
        self._valid.pop(key_hash, None)
        self._valid[key_hash] = (principal, now)
        while self._valid:  # the oldest first: drop what expired, and beyond the bound
            _, (_, checked) = next(iter(self._valid.items()))
            if now - checked < self.cache_seconds and len(self._valid) <= self.MAX_CACHED:
                break
            self._valid.popitem(last=False)


def principal_from_token() -> uuid.UUID:
    """The principal of the request's verified API key (the SDK has checked the key)."""
    token = get_access_token()
    if token is None or token.subject is None:
        raise IdentityError("this call carries no valid API key")
    return uuid.UUID(token.subject)


def principal_from_headers(headers: Mapping[str, str] | None) -> uuid.UUID:
    """The principal named by the x-rls-user-id header (the reference sample's scheme)."""
    value = (headers or {}).get(HEADER)
    if not value:
        raise IdentityError(f"the {HEADER} header is missing: it must name the caller's principal")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise IdentityError(f"the {HEADER} header is not a UUID") from None


# Key management, for `zava-mcp keys`: the administrator's connection, plain SQL.


@dataclass(frozen=True)
class KeyRecord:
    key_id: uuid.UUID
    rls_user_id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def create_key(
    admin_url: str, principal: uuid.UUID, name: str = "", expires_in: timedelta | None = None
) -> tuple[uuid.UUID, str]:
    """Store a new key's hash and return (key_id, key); the key is never stored."""
    key = new_api_key()
    with psycopg.connect(admin_url) as conn:
        key_id: uuid.UUID = conn.execute(  # type: ignore[index]  # INSERT ... RETURNING: one row
            """
            insert into mcp_internal.api_keys (key_hash, rls_user_id, name, expires_at)
            values (%s, %s, %s, now() + %s)
            returning key_id
            """,
            (hash_key(key), principal, name, expires_in),
        ).fetchone()[0]
    return key_id, key


def list_keys(admin_url: str) -> list[KeyRecord]:
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            """
            select key_id, rls_user_id, name, created_at, expires_at, revoked_at
            from mcp_internal.api_keys order by created_at, key_id
            """
        ).fetchall()
    return [KeyRecord(*row) for row in rows]


def revoke_key(admin_url: str, key_id: uuid.UUID) -> bool:
    """Revoke a key now; False when no such valid key exists."""
    with psycopg.connect(admin_url) as conn:
        revoked = conn.execute(
            "update mcp_internal.api_keys set revoked_at = now() "
            "where key_id = %s and revoked_at is null returning key_id",
            (key_id,),
        ).fetchone()
    return revoked is not None
