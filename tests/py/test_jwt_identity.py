"""JWT identity fails closed (property 1): only a token signed by the issuer's published
key, for our audience, within its validity and naming a principal's UUID gets in."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import socket
import time
import uuid

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from mcp.server.auth.provider import AccessToken, TokenVerifier

from conftest import (
    REDMOND,
    SEATTLE,
    STORE_IDS,
    bearer,
    mcp_client,
    post_initialize,
    run_server,
    server_settings,
)
from fake_oidc import (
    AUDIENCE,
    FakeOidc,
    SigningKey,
    b64url,
    b64url_json,
    jwks_document,
    running_fake_oidc,
)
from zava_mcp.config import ConfigError, JwtSettings
from zava_mcp.identity import create_key
from zava_mcp.jwt_identity import CombinedVerifier, JwtVerifier

pytestmark = pytest.mark.anyio

COUNT_BY_STORE = "select store_id, count(*) from retail.orders group by 1 order by 1"


class FakeClock:
    """The verifier's cache clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def keys() -> list[SigningKey]:
    """Generated once: RSA keys take a moment."""
    return [SigningKey.rsa(), SigningKey.ec()]


@pytest.fixture
def oidc(keys):
    with running_fake_oidc(list(keys)) as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def settings_for(fake: FakeOidc, **changes) -> JwtSettings:
    return JwtSettings(
        issuer=fake.issuer, audience=AUDIENCE, jwks_url=fake.jwks_url, jwks_file=None, **changes
    )


@pytest.fixture
def verifier(oidc, clock) -> JwtVerifier:
    return JwtVerifier(settings_for(oidc), clock=clock)


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}"


# --- Accepted ---


@pytest.mark.parametrize("which", [0, 1], ids=["RS256", "ES256"])
async def test_a_valid_token_gives_its_principal(oidc, verifier, which):
    key = oidc.keys[which]
    token = oidc.token(SEATTLE, key=key)
    assert jwt.get_unverified_header(token)["alg"] == key.alg
    access = await verifier.verify_token(token)
    assert access is not None and access.subject == SEATTLE


async def test_the_access_token_carries_client_scopes_expiry_and_claims(oidc, verifier):
    token = oidc.token(SEATTLE.upper(), sub="the-subject", exp=int(time.time()) + 600)
    access = await verifier.verify_token(token)
    assert access == AccessToken(
        token=token,
        client_id="test-client",
        scopes=["Data.Read", "User.Read"],
        expires_at=access.expires_at,
        subject=SEATTLE,  # normalised
        claims={"iss": oidc.issuer, "sub": "the-subject"},
    )
    assert abs(access.expires_at - (time.time() + 600)) < 5
    # RFC 9068 names: client_id and scope; neither: 'jwt' and no scopes.
    rfc = await verifier.verify_token(
        oidc.token(SEATTLE, azp=None, scp=None, client_id="other", scope="a b")
    )
    assert rfc.client_id == "other" and rfc.scopes == ["a", "b"]
    bare = await verifier.verify_token(oidc.token(SEATTLE, azp=None, scp=None))
    assert bare.client_id == "jwt" and bare.scopes == []


async def test_an_audience_list_containing_ours_is_accepted(oidc, verifier):
    access = await verifier.verify_token(oidc.token(SEATTLE, aud=["other", AUDIENCE]))
    assert access is not None and access.subject == SEATTLE


async def test_an_expired_token_within_the_leeway_is_accepted(oidc, verifier):
    access = await verifier.verify_token(oidc.token(SEATTLE, exp=int(time.time()) - 30))
    assert access is not None and access.subject == SEATTLE


async def test_another_principal_claim_can_be_configured(oidc, clock):
    verifier = JwtVerifier(settings_for(oidc, principal_claim="zava_user"), clock=clock)
    assert (await verifier.verify_token(oidc.token(SEATTLE, zava_user=REDMOND))).subject == REDMOND
    assert await verifier.verify_token(oidc.token(SEATTLE)) is None


# --- Refused ---


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": -120},
        {"nbf": +300},
        {"iat": +300},
        {"exp": None},
    ],
    ids=["expired", "nbf in the future", "issued in the future", "no exp"],
)
async def test_a_token_outside_its_validity_is_refused(oidc, verifier, changes):
    now = int(time.time())
    changes = {name: None if delta is None else now + delta for name, delta in changes.items()}
    assert await verifier.verify_token(oidc.token(SEATTLE, **changes)) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "api://someone-else"},
        {"aud": None},
        {"iss": "https://login.example.com/evil/v2.0"},
        {"iss": None},
    ],
    ids=["wrong audience", "no audience", "wrong issuer", "no issuer"],
)
async def test_a_token_for_another_audience_or_issuer_is_refused(oidc, verifier, changes):
    assert await verifier.verify_token(oidc.token(SEATTLE, **changes)) is None


async def test_a_trailing_slash_is_another_issuer(oidc, verifier):
    assert await verifier.verify_token(oidc.token(SEATTLE, iss=oidc.issuer + "/")) is None


async def test_a_token_signed_by_an_unpublished_key_is_refused(oidc, verifier):
    stranger = SigningKey.ec()
    assert await verifier.verify_token(oidc.token(SEATTLE, key=stranger)) is None
    # The same stranger claiming a published kid: the signature does not verify.
    impostor = dataclasses.replace(stranger, kid=oidc.keys[1].kid)
    assert await verifier.verify_token(oidc.token(SEATTLE, key=impostor)) is None


async def test_a_token_whose_alg_does_not_fit_its_key_is_refused(oidc, verifier):
    # Signed with the EC key under ES256, but naming the RSA key's kid.
    mismatched = dataclasses.replace(oidc.keys[1], kid=oidc.keys[0].kid)
    assert await verifier.verify_token(oidc.token(SEATTLE, key=mismatched)) is None


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_an_unsigned_token_is_refused(oidc, verifier, alg):
    token = unsigned({"alg": alg, "typ": "JWT"}, oidc.claims(SEATTLE))
    assert await verifier.verify_token(token) is None
    # Even with a published kid in the header.
    token = unsigned({"alg": alg, "kid": oidc.key.kid}, oidc.claims(SEATTLE))
    assert await verifier.verify_token(token) is None


async def test_hs256_signed_with_the_public_key_is_refused(oidc, verifier):
    """The classic confusion: a verifier that feeds the RSA public key to HMAC would accept."""
    public_pem = oidc.key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, json.dumps(oidc.key.jwk()).encode()):
        header = b64url_json({"alg": "HS256", "typ": "JWT", "kid": oidc.key.kid})
        payload = b64url_json(oidc.claims(SEATTLE))
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        assert await verifier.verify_token(f"{header}.{payload}.{b64url(signature)}") is None


@pytest.mark.parametrize(
    "principal",
    [None, "", "seattle", "f47ac10b-58cc-4372-a567", 42, [SEATTLE], {"id": SEATTLE}],
    ids=["missing", "empty", "a name", "short uuid", "a number", "a list", "an object"],
)
async def test_a_token_without_a_uuid_principal_is_refused(oidc, verifier, principal):
    assert await verifier.verify_token(oidc.token(principal)) is None  # None: no oid claim


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "..",
        "a.b.c.d.e",
        b64url_json(["not", "an", "object"]) + ".e30.",
        b64url_json({"alg": "RS256", "kid": 7}) + ".e30.c2ln",
        b64url_json({"alg": "RS256"}) + "." + b64url(b"\xff\xfe not json") + ".c2ln",
        b64url_json({"alg": "RS256"}) + "." + "A" * 20000 + ".c2ln",
    ],
    ids=[
        "empty",
        "one word",
        "three words",
        "dots",
        "JWE-like",
        "header not an object",
        "kid a number",
        "payload not json",
        "huge",
    ],
)
async def test_a_malformed_token_is_refused(verifier, token):
    assert await verifier.verify_token(token) is None


async def test_refusals_are_logged_without_the_token(oidc, verifier, caplog):
    token = oidc.token(SEATTLE, exp=int(time.time()) - 3600)
    with caplog.at_level(logging.INFO, logger="zava_mcp.jwt_identity"):
        assert await verifier.verify_token(token) is None
    assert "ExpiredSignatureError" in caplog.text
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


# --- The JWKS: fetched once, cached, refetched on rotation, and its failures ---


async def test_the_jwks_is_fetched_once_and_cached(oidc, verifier):
    tokens = [oidc.token(SEATTLE, key=oidc.keys[i % 2]) for i in range(50)]
    results = await asyncio.gather(*(verifier.verify_token(token) for token in tokens))
    assert all(result is not None and result.subject == SEATTLE for result in results)
    for token in tokens[:10]:
        assert await verifier.verify_token(token) is not None
    assert oidc.fetches == 1 and verifier.fetches == 1


async def test_the_jwks_is_refetched_when_the_cache_expires(oidc, verifier, clock):
    token = oidc.token(SEATTLE)
    assert await verifier.verify_token(token) is not None
    clock.advance(599)
    assert await verifier.verify_token(token) is not None
    assert oidc.fetches == 1
    clock.advance(2)
    assert await verifier.verify_token(token) is not None
    assert oidc.fetches == 2


async def test_a_rotated_key_triggers_one_refetch_and_is_accepted(oidc, verifier, clock):
    assert await verifier.verify_token(oidc.token(SEATTLE)) is not None
    clock.advance(31)  # past the refetch interval, well within the cache's lifetime
    new = SigningKey.rsa()
    oidc.rotate(new)
    tokens = [oidc.token(REDMOND, key=new) for _ in range(5)]
    results = await asyncio.gather(*(verifier.verify_token(token) for token in tokens))
    assert [result.subject for result in results] == [REDMOND] * 5
    assert oidc.fetches == 2
    # Old and new keys both verify from the cache now.
    assert await verifier.verify_token(oidc.token(SEATTLE, key=oidc.keys[1])) is not None
    assert await verifier.verify_token(oidc.token(SEATTLE, key=new)) is not None
    assert oidc.fetches == 2


async def test_unknown_kids_cause_at_most_one_refetch_per_interval(oidc, verifier, clock):
    assert await verifier.verify_token(oidc.token(SEATTLE)) is not None
    new = SigningKey.ec()
    oidc.rotate(new)
    # Within 30 s of the last fetch, unknown kids (here: random ones) fetch nothing.
    for _ in range(10):
        assert await verifier.verify_token(oidc.token(SEATTLE, key=SigningKey.ec())) is None
    assert await verifier.verify_token(oidc.token(SEATTLE, key=new)) is None
    assert oidc.fetches == 1
    clock.advance(30)
    assert await verifier.verify_token(oidc.token(SEATTLE, key=new)) is not None
    assert oidc.fetches == 2


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/keys"


async def test_an_unreachable_jwks_refuses_quickly(oidc, clock):
    settings = dataclasses.replace(settings_for(oidc), jwks_url=closed_port_url())
    verifier = JwtVerifier(settings, clock=clock)
    started = time.monotonic()
    assert await verifier.verify_token(oidc.token(SEATTLE)) is None
    assert time.monotonic() - started < 2
    # Further requests within the interval do not even try.
    assert await verifier.verify_token(oidc.token(SEATTLE)) is None
    assert verifier.fetches == 1


async def test_a_slow_or_failing_jwks_refuses(oidc, clock):
    oidc.delay_seconds = 10
    verifier = JwtVerifier(settings_for(oidc), http_timeout=0.3, clock=clock)
    started = time.monotonic()
    assert await verifier.verify_token(oidc.token(SEATTLE)) is None
    assert time.monotonic() - started < 3
    oidc.delay_seconds, oidc.fail_status = 0, 503
    clock.advance(30)
    assert await verifier.verify_token(oidc.token(SEATTLE)) is None
    oidc.fail_status = None
    clock.advance(30)
    assert await verifier.verify_token(oidc.token(SEATTLE)) is not None


async def test_the_last_good_keys_outlive_a_provider_outage(oidc, verifier, clock):
    token = oidc.token(SEATTLE)
    assert await verifier.verify_token(token) is not None
    oidc.fail_status = 503
    clock.advance(601)
    assert await verifier.verify_token(token) is not None
    assert oidc.fetches == 2


async def test_a_jwks_file_works(oidc, keys, tmp_path, clock):
    path = tmp_path / "jwks.json"
    without_alg = [{k: v for k, v in key.jwk().items() if k != "alg"} for key in keys]
    path.write_text(json.dumps({"keys": [*without_alg, {"kty": "oct", "k": "c2VjcmV0"}]}))
    settings = JwtSettings(
        issuer=oidc.issuer, audience=AUDIENCE, jwks_url=None, jwks_file=str(path)
    )
    verifier = JwtVerifier(settings, clock=clock)
    for key in keys:
        assert (await verifier.verify_token(oidc.token(SEATTLE, key=key))).subject == SEATTLE
    assert await verifier.verify_token(oidc.token(SEATTLE, key=SigningKey.rsa())) is None
    mismatched = dataclasses.replace(keys[1], kid=keys[0].kid)
    assert await verifier.verify_token(oidc.token(SEATTLE, key=mismatched)) is None
    assert oidc.fetches == 0
    # A rotated file is read again (on an unknown kid, after the interval).
    new = SigningKey.ec()
    path.write_text(json.dumps(jwks_document([new])))
    clock.advance(30)
    assert (await verifier.verify_token(oidc.token(REDMOND, key=new))).subject == REDMOND


# --- Settings ---

ENV = {
    "ZAVA_JWT_ISSUER": "https://login.microsoftonline.com/tenant/v2.0",
    "ZAVA_JWT_AUDIENCE": "api://zava-mcp",
    "ZAVA_JWT_JWKS_URL": "https://login.microsoftonline.com/tenant/discovery/v2.0/keys",
}


def test_settings_from_env():
    assert JwtSettings.from_env({}) is None
    assert JwtSettings.from_env({"ZAVA_JWT_ISSUER": "", "OTHER": "x"}) is None
    settings = JwtSettings.from_env(ENV)
    assert settings == JwtSettings(
        issuer=ENV["ZAVA_JWT_ISSUER"],
        audience=ENV["ZAVA_JWT_AUDIENCE"],
        jwks_url=ENV["ZAVA_JWT_JWKS_URL"],
        jwks_file=None,
    )
    assert settings.principal_claim == "oid" and settings.algorithms == ("RS256", "ES256")
    custom = JwtSettings.from_env(
        {
            **ENV,
            "ZAVA_JWT_PRINCIPAL_CLAIM": "sub",
            "ZAVA_JWT_LEEWAY": "5",
            "ZAVA_JWT_ALGORITHMS": "PS256, ES384",
        }
    )
    assert custom.principal_claim == "sub" and custom.leeway_seconds == 5
    assert custom.algorithms == ("PS256", "ES384")


def test_settings_accept_a_jwks_file_and_loopback_http(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text("{}")
    env = {**ENV, "ZAVA_JWT_JWKS_URL": "", "ZAVA_JWT_JWKS_FILE": str(path)}
    assert JwtSettings.from_env(env).jwks_file == str(path)
    for url in ("http://127.0.0.1:8080/keys", "http://localhost/keys", "http://[::1]/keys"):
        assert JwtSettings.from_env({**ENV, "ZAVA_JWT_JWKS_URL": url}).jwks_url == url


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"ZAVA_JWT_ISSUER": ""},
            "ZAVA_JWT_AUDIENCE, ZAVA_JWT_JWKS_URL set but ZAVA_JWT_ISSUER is not",
        ),
        ({"ZAVA_JWT_AUDIENCE": ""}, "ZAVA_JWT_AUDIENCE is required"),
        ({"ZAVA_JWT_JWKS_URL": ""}, "exactly one of ZAVA_JWT_JWKS_URL and ZAVA_JWT_JWKS_FILE"),
        (
            {"ZAVA_JWT_JWKS_FILE": "__FILE__"},
            "exactly one of ZAVA_JWT_JWKS_URL and ZAVA_JWT_JWKS_FILE",
        ),
        (
            {"ZAVA_JWT_JWKS_URL": "", "ZAVA_JWT_JWKS_FILE": "/no/such/jwks.json"},
            "is not a readable file",
        ),
        ({"ZAVA_JWT_JWKS_URL": "http://login.example.com/keys"}, "must be an https:// URL"),
        ({"ZAVA_JWT_JWKS_URL": "login.example.com/keys"}, "must be an https:// URL"),
        ({"ZAVA_JWT_ALGORITHMS": "none"}, "alg none"),
        ({"ZAVA_JWT_ALGORITHMS": "RS256,HS256"}, "HS256 uses a shared secret"),
        ({"ZAVA_JWT_ALGORITHMS": "RS1"}, "'RS1' is not supported"),
        ({"ZAVA_JWT_ALGORITHMS": " , "}, "at least one algorithm"),
        ({"ZAVA_JWT_LEEWAY": "a minute"}, "is not a whole number"),
        ({"ZAVA_JWT_LEEWAY": "-1"}, "between 0 and 600"),
        ({"ZAVA_JWT_PRINCIPAL_CLAIM": " "}, None),  # blank means the default
    ],
    ids=[
        "no issuer",
        "no audience",
        "no jwks",
        "url and file",
        "missing file",
        "remote http",
        "no scheme",
        "alg none",
        "hs256",
        "unknown alg",
        "no alg",
        "leeway not a number",
        "negative leeway",
        "blank claim",
    ],
)
def test_half_or_invalid_settings_are_refused(tmp_path, changes, message):
    jwks = tmp_path / "jwks.json"
    jwks.write_text("{}")
    env = {**ENV, **{k: str(jwks) if v == "__FILE__" else v for k, v in changes.items()}}
    if message is None:
        assert JwtSettings.from_env(env).principal_claim == "oid"
        return
    with pytest.raises(ConfigError, match=message):
        JwtSettings.from_env(env)


def test_settings_are_validated_when_built_directly():
    with pytest.raises(ConfigError, match="shared secret"):
        JwtSettings(
            issuer="i",
            audience="a",
            jwks_url="https://x/keys",
            jwks_file=None,
            algorithms=("HS256",),
        )
    with pytest.raises(ConfigError, match="exactly one"):
        JwtSettings(issuer="i", audience="a", jwks_url="https://x/keys", jwks_file="/etc/jwks")


# --- CombinedVerifier ---


class RecordingVerifier(TokenVerifier):
    """Accepts every token as one principal and records what it was asked."""

    def __init__(self, principal: str) -> None:
        self.principal = principal
        self.seen: list[str] = []

    async def verify_token(self, token: str) -> AccessToken | None:
        self.seen.append(token)
        return AccessToken(token=token, client_id="fake", scopes=[], subject=self.principal)


async def test_combined_verifier_routes_api_keys_and_jwts():
    keys, jwts = RecordingVerifier(SEATTLE), RecordingVerifier(REDMOND)
    combined = CombinedVerifier(keys, jwts)
    assert (await combined.verify_token("zava_abc")).subject == SEATTLE
    assert (await combined.verify_token("eyJhbGciOi.x.y")).subject == REDMOND
    assert (await combined.verify_token("Zava_abc")).subject == REDMOND  # the prefix is exact
    assert keys.seen == ["zava_abc"] and jwts.seen == ["eyJhbGciOi.x.y", "Zava_abc"]
    keys_only = CombinedVerifier(keys, None)
    assert await keys_only.verify_token("eyJhbGciOi.x.y") is None
    assert (await keys_only.verify_token("zava_def")).subject == SEATTLE
    assert keys.seen == ["zava_abc", "zava_def"]


async def test_combined_verifier_with_a_real_jwt_verifier(oidc, verifier):
    combined = CombinedVerifier(RecordingVerifier(REDMOND), verifier)
    assert (await combined.verify_token(oidc.token(SEATTLE))).subject == SEATTLE
    assert await combined.verify_token(oidc.token(SEATTLE, aud="other")) is None


# --- End to end: needs Settings.jwt and build_server's CombinedVerifier (lead's wiring) ---


async def test_end_to_end_server_accepts_a_jwt_for_seattle(
    seeded, local_provider, embedded_products
):
    with running_fake_oidc() as oidc:
        jwt_settings = JwtSettings(
            issuer=oidc.issuer, audience=AUDIENCE, jwks_url=oidc.jwks_url, jwks_file=None
        )
        settings = dataclasses.replace(server_settings(seeded[0]), jwt=jwt_settings)
        redmond_key = create_key(seeded[1], uuid.UUID(REDMOND), "test: jwt e2e")[1]
        with run_server(settings, local_provider) as base_url:
            url = f"{base_url}/mcp"
            async with mcp_client(url, bearer(oidc.token(SEATTLE))) as client:
                result = await client.call_tool(
                    "execute_sales_query", {"postgresql_query": COUNT_BY_STORE}
                )
            assert [row[0] for row in result.structured_content["rows"]] == [STORE_IDS[SEATTLE]]
            # API keys still work beside JWTs.
            async with mcp_client(url, bearer(redmond_key)) as client:
                result = await client.call_tool(
                    "execute_sales_query", {"postgresql_query": COUNT_BY_STORE}
                )
            assert [row[0] for row in result.structured_content["rows"]] == [STORE_IDS[REDMOND]]
            # Bad JWTs are refused with 401, like bad keys.
            expired = oidc.token(SEATTLE, exp=int(time.time()) - 3600)
            stranger = oidc.token(SEATTLE, key=SigningKey.ec())
            for token in (expired, stranger, oidc.token(SEATTLE, aud="other")):
                response = await post_initialize(url, bearer(token))
                assert response.status_code == 401
                assert "resource_metadata=" in response.headers["www-authenticate"]
                assert 'error="invalid_token"' in response.headers["www-authenticate"]
                assert response.json()["error_description"].startswith("the token is not accepted")
            assert (await post_initialize(url, bearer(oidc.token(SEATTLE)))).status_code == 200
            # With JWT sign-in, the protected-resource metadata names the issuer.
            async with httpx2.AsyncClient() as http:
                metadata = await http.get(
                    url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
                )
            assert metadata.status_code == 200
            assert metadata.json()["resource"] == url
        assert oidc.fetches == 1
