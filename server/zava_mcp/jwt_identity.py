"""Who is calling, second source: JWT access tokens from an OpenID Connect provider.

A token is accepted only when it is signed by a key of the provider's JWKS with an
asymmetric algorithm we allow, names our issuer and audience exactly, is within its
validity window (give or take a small leeway), and carries a claim (Entra ID: `oid`)
whose value is the UUID of a principal. Anything else ends in None: the SDK answers 401,
never head office's view (fail closed, DESIGN.md property 1).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

from zava_mcp.config import JwtSettings
from zava_mcp.identity import KEY_PREFIX

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 16 * 1024  # Entra tokens are 1-3 KiB; refuse to parse megabytes
MAX_JWKS_BYTES = 1024 * 1024


class _Rejected(Exception):
    """A token was refused; the message (never the token) is logged."""


class JwtVerifier(TokenVerifier):
    """Verifies JWT bearer tokens against the issuer's JWKS; None for anything invalid."""

    def __init__(
        self,
        settings: JwtSettings,
        *,
        http_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,  # for the cache; tests pass their own
    ) -> None:
        self.settings = settings
        self.http_timeout = http_timeout
        self._clock = clock
        self._keys: dict[str | None, dict[str, Any]] = {}  # kid -> JWK (public keys only)
        self._fetched_at: float | None = None  # when the keys were last loaded successfully
        self._attempted_at: float | None = None  # when a load was last tried
        self._lock = anyio.Lock()  # concurrent first requests load the JWKS once
        self.fetches = 0  # how many loads were tried (for tests and metrics)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            return await self._verify(token)
        except _Rejected as reason:
            log.info("JWT refused: %s", reason)
        except jwt.PyJWTError as error:
            log.info("JWT refused: %s: %s", type(error).__name__, error)
        except Exception as error:  # never raise into the SDK: refuse instead
            log.warning("JWT refused after an unexpected error: %s", type(error).__name__)
        return None

    async def _verify(self, token: str) -> AccessToken:
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise _Rejected("not a compact JWS")
        header = jwt.get_unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        # The header is the attacker's: its alg only selects among the allowed ones.
        if not isinstance(alg, str) or alg not in self.settings.algorithms:
            raise _Rejected(f"algorithm {alg!r} is not allowed")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 200):
            raise _Rejected("kid is not a short string")
        jwk = await self._key(kid)
        if jwk.get("alg") not in (None, alg):
            raise _Rejected(f"key {kid!r} is for {jwk.get('alg')!r}, not {alg!r}")
        # Bound to the header's alg; PyJWT checks that the key's type (and curve) fit it.
        key = jwt.PyJWK(jwk, algorithm=alg)
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=self.settings.audience,
            issuer=self.settings.issuer,
            leeway=self.settings.leeway_seconds,
            options={"require": ["exp", "iss", "aud"]},
        )
        principal = claims.get(self.settings.principal_claim)
        if not isinstance(principal, str) or len(principal) > 64:
            raise _Rejected(f"claim {self.settings.principal_claim!r} is missing or not a string")
        try:
            subject = str(uuid.UUID(principal))
        except ValueError:
            raise _Rejected(f"claim {self.settings.principal_claim!r} is not a UUID") from None
        client_id = next(
            (
                claims[name]
                for name in ("azp", "client_id", "appid")
                if isinstance(claims.get(name), str)
            ),
            "jwt",
        )
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            subject=subject,
            claims={name: claims[name] for name in ("iss", "sub") if name in claims},
        )

    async def _key(self, kid: str | None) -> dict[str, Any]:
        """The JWK for kid, loading the JWKS when it is stale or does not know kid."""
        if not self._fresh() or self._find(kid) is None:
            async with self._lock:
                # Another request may have loaded it while this one waited.
                if (not self._fresh() or self._find(kid) is None) and self._may_fetch():
                    await self._load()
        jwk = self._find(kid)
        if jwk is None and self._fetched_at is None:
            raise _Rejected("the JWKS could not be loaded")
        if jwk is None:
            raise _Rejected(f"no key {kid!r} in the JWKS")
        return jwk

    def _fresh(self) -> bool:
        return (
            self._fetched_at is not None
            and self._clock() - self._fetched_at < self.settings.jwks_cache_seconds
        )

    def _may_fetch(self) -> bool:
        # Throttle: random kids or an unreachable provider cannot make us fetch per request.
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self.settings.jwks_refetch_seconds
        )

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None and len(self._keys) == 1:  # a token without kid, a JWKS of one key
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _load(self) -> None:
        """Load the JWKS. On failure keep the last good keys (the provider may be briefly
        down; they are public keys, and the cache TTL bounds how long they stay)."""
        self._attempted_at = self._clock()
        self.fetches += 1
        try:
            document = await self._read_jwks()
            keys = _parse_jwks(document)
        except Exception as error:
            log.warning(
                "could not load the JWKS from %s: %s: %s",
                self.settings.jwks_url or self.settings.jwks_file,
                type(error).__name__,
                error,
            )
            return
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("loaded %d signing keys from the JWKS", len(keys))

    async def _read_jwks(self) -> Any:
        if self.settings.jwks_file is not None:
            text = await anyio.Path(self.settings.jwks_file).read_text()
            return json.loads(text)
        url = self.settings.jwks_url or ""
        # A client per load: loads are rare, and a client must not outlive its event loop.
        async with httpx2.AsyncClient(timeout=self.http_timeout) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS is larger than 1 MiB")
        return response.json()


def _parse_jwks(document: Any) -> dict[str | None, dict[str, Any]]:
    """kid -> JWK for the usable public signing keys of a JWKS document."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no keys list)")
    keys: dict[str | None, dict[str, Any]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        if jwk.get("kty") not in ("RSA", "EC", "OKP") or "d" in jwk:
            continue  # symmetric keys and private keys have no place here
        try:
            jwt.PyJWK(jwk)  # skip keys PyJWT cannot load
        except jwt.PyJWTError:
            continue
        keys[jwk.get("kid") if isinstance(jwk.get("kid"), str) else None] = jwk
    if not keys:
        raise ValueError("the JWKS has no usable signing keys")
    return keys


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    """Entra's `scp` or RFC 9068's `scope`: a space-separated string (or a list)."""
    value = claims.get("scp", claims.get("scope"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class CombinedVerifier(TokenVerifier):
    """API keys (tokens starting with 'zava_') go to the ApiKeyVerifier, everything else to
    the JwtVerifier (None when JWTs are off)."""

    def __init__(self, api_keys: TokenVerifier, jwt: TokenVerifier | None) -> None:
        self.api_keys = api_keys
        self.jwt = jwt

    async def verify_token(self, token: str) -> AccessToken | None:
        if token.startswith(KEY_PREFIX):
            return await self.api_keys.verify_token(token)
        if self.jwt is None:
            return None
        return await self.jwt.verify_token(token)
