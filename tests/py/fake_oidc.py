"""A real HTTP server publishing a JWKS, like an OpenID Connect provider, for tests.

Keys are generated here (RSA 2048, EC P-256); tokens are really signed with PyJWT. The
fake counts JWKS fetches, can rotate its keys, answer slowly or fail.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local_http import serving

AUDIENCE = "api://zava-mcp"
JWKS_PATH = "/discovery/v2.0/keys"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class SigningKey:
    kid: str
    alg: str  # RS256 or ES256
    private: PrivateKey

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"rsa-{uuid.uuid4().hex[:8]}", "RS256", private)

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(
            kid or f"ec-{uuid.uuid4().hex[:8]}", "ES256", ec.generate_private_key(ec.SECP256R1())
        )

    def jwk(self) -> dict[str, Any]:
        """The public key as published in a JWKS."""
        algorithm = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        jwk: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)  # type: ignore[arg-type]
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}


def jwks_document(keys: list[SigningKey]) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class FakeOidc:
    """The running provider's address and switches; change them between requests."""

    issuer: str  # http://127.0.0.1:<port>/tenant/v2.0
    jwks_url: str
    keys: list[SigningKey]  # the published keys
    fetches: int = 0  # JWKS requests answered (or failed)
    delay_seconds: float = 0.0
    fail_status: int | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    async def jwks(self, request: Request) -> Response:
        self.fetches += 1
        if self.delay_seconds:
            await anyio.to_thread.run_sync(self.stopping.wait, self.delay_seconds)
        if self.fail_status is not None:
            return JSONResponse({"error": "unavailable"}, status_code=self.fail_status)
        return JSONResponse(jwks_document(self.keys))

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def rotate(self, new: SigningKey) -> None:
        """Publish new in front of the current keys (old tokens stay valid, like Entra)."""
        self.keys = [new, *self.keys]

    def claims(self, principal: str | None, **changes: Any) -> dict[str, Any]:
        """A typical Entra ID v2 access token's claims; changes override (None removes)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "subject-" + uuid.uuid4().hex[:8],
            "oid": principal,
            "azp": "test-client",
            "scp": "Data.Read User.Read",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, principal: str | None, *, key: SigningKey | None = None, **changes: Any) -> str:
        """A token signed by key (default: the first published) for principal."""
        key = key or self.key
        return jwt.encode(
            self.claims(principal, **changes),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid},
        )


@contextmanager
def running_fake_oidc(keys: list[SigningKey] | None = None) -> Iterator[FakeOidc]:
    """Serve the fake on a free port of 127.0.0.1 in a background thread while in the block."""
    fake = FakeOidc(
        issuer="",
        jwks_url="",
        keys=keys if keys is not None else [SigningKey.rsa(), SigningKey.ec()],
    )
    app = Starlette(routes=[Route(JWKS_PATH, fake.jwks, methods=["GET"])])
    with serving(app) as base:
        fake.issuer = f"{base}/{uuid.uuid4()}/v2.0"
        fake.jwks_url = f"{base}{JWKS_PATH}"
        try:
            yield fake
        finally:
            fake.stopping.set()
