"""Identity fails closed (property 1): no credential, a bad, revoked or expired key, a
missing or malformed header get a refusal or an empty view, never head office's."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import (
    HEAD_OFFICE,
    PROJECT_ROOT,
    SEATTLE,
    STORE_IDS,
    bearer,
    mcp_client,
    post_initialize,
    run_server,
    server_settings,
)
from zava_mcp.calls import Database
from zava_mcp.embeddings import provider_from_settings
from zava_mcp.identity import ApiKeyVerifier, create_key, hash_key, new_api_key, revoke_key

pytestmark = pytest.mark.anyio

COUNT_BY_STORE = "select store_id, count(*) from retail.orders group by 1 order by 1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer zava_not-a-real-key"},
        {"Authorization": "Bearer zava_"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"x-rls-user-id": HEAD_OFFICE},  # the reference's header means nothing in keys mode
    ],
    ids=["no token", "wrong key", "bare prefix", "basic auth", "header instead of key"],
)
async def test_requests_without_a_valid_key_are_refused(served, headers):
    """Refused with a message that says what was wrong (RFC 6750: no error code when no
    key came), and no pointer to an OAuth sign-in that API keys do not have."""
    response = await post_initialize(served.url, headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="zava-mcp"')
    assert "resource_metadata=" not in challenge
    if headers.get("Authorization", "").startswith("Bearer zava_"):
        assert 'error="invalid_token"' in challenge
        assert "the API key is unknown, expired or revoked" in response.json()["error_description"]
    else:
        assert "error=" not in challenge
        assert response.json()["error_description"].startswith("no API key: send the header")


@pytest.mark.parametrize("who", ["revoked", "expired"])
async def test_revoked_and_expired_keys_are_refused(served, who):
    response = await post_initialize(served.url, bearer(served.keys[who]))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "the API key is unknown, expired or revoked: ask for a new one "
        "(`zava-mcp keys create`)",
    }
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_valid_key_is_accepted(served):
    response = await post_initialize(served.url, bearer(served.keys["Seattle"]))
    assert response.status_code == 200


async def test_an_unknown_principal_gets_no_connection_and_a_clear_error(served):
    """A key for a principal that is neither head office nor a store's manager has no
    login role, so its calls never reach the database."""
    async with mcp_client(served.url, bearer(served.keys["unknown"])) as client:
        orders = await client.call_tool("execute_sales_query", {"postgresql_query": COUNT_BY_STORE})
        products = await client.call_tool(
            "execute_sales_query", {"postgresql_query": "select count(*) from retail.products"}
        )
    for result in (orders, products):
        assert result.is_error
        assert result.structured_content is None
        assert "has no access: it is neither head office nor a store's manager" in (
            result.content[0].text
        )


async def test_no_oauth_is_advertised_with_api_keys_alone(served):
    """Without JWT sign-in there is no OAuth: no metadata sends a client looking for it."""
    async with httpx2.AsyncClient() as http:
        for path in (
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-authorization-server",
        ):
            assert (await http.get(f"{served.base_url}{path}")).status_code == 404, path


@pytest.fixture(scope="module")
def header_served(seeded, local_provider, embedded_products):
    settings = server_settings(seeded[0], identity="header")
    with run_server(settings, local_provider) as base_url:
        yield f"{base_url}/mcp"


async def test_header_mode_uses_the_header(header_served):
    async with mcp_client(header_served, {"x-rls-user-id": SEATTLE}) as client:
        result = await client.call_tool("execute_sales_query", {"postgresql_query": COUNT_BY_STORE})
    assert [row[0] for row in result.structured_content["rows"]] == [STORE_IDS[SEATTLE]]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "x-rls-user-id header is missing"),
        ({"x-rls-user-id": "head office"}, "not a UUID"),
        ({"x-rls-user-id": "00000000-0000-0000-0000-00000000000"}, "not a UUID"),
    ],
    ids=["missing header", "not a uuid", "short uuid"],
)
async def test_header_mode_fails_closed(header_served, headers, message):
    async with mcp_client(header_served, headers) as client:
        result = await client.call_tool("execute_sales_query", {"postgresql_query": COUNT_BY_STORE})
    assert result.is_error
    assert message in result.content[0].text
    assert "not authenticated" in result.content[0].text


async def test_keys_are_random_and_stored_only_as_hashes(served):
    first, second = new_api_key(), new_api_key()
    assert first != second and first.startswith("zava_") and len(first) > 40
    assert len(hash_key(first)) == 32
    import psycopg

    with psycopg.connect(served.admin_url) as conn:
        stored = conn.execute(
            "select count(*) from mcp_internal.api_keys where key_hash = %s",
            (hash_key(served.keys["Seattle"]),),
        ).fetchone()[0]
        plain = conn.execute(
            "select count(*) from mcp_internal.api_keys where encode(key_hash, 'escape') like 'zava_%%'"
        ).fetchone()[0]
    assert stored == 1 and plain == 0


def run_cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ZAVA_DATA_DIR": str(settings.data_dir),
        "ZAVA_DATABASE": settings.database_name,
    }
    return subprocess.run(
        [sys.executable, "-m", "zava_mcp", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


async def test_keys_commands_create_list_and_revoke(served):
    created = run_cli(
        served.settings, "keys", "create", "--user", SEATTLE, "--name", "cli test", "--expires", "3"
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("zava_") and "\n" not in key
    response = await post_initialize(served.url, bearer(key))
    assert response.status_code == 200
    listed = run_cli(served.settings, "keys", "list")
    line = next(line for line in listed.stdout.splitlines() if line.endswith("cli test"))
    assert SEATTLE in line and "valid" in line and key not in listed.stdout
    key_id = line.split()[0]
    revoked = run_cli(served.settings, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    # A checked key is remembered for ZAVA_KEY_CACHE_SECONDS: it must stop within that.
    revoked_at, window = time.monotonic(), served.settings.server.key_cache_seconds
    while (await post_initialize(served.url, bearer(key))).status_code != 401:
        assert time.monotonic() - revoked_at < window + 1, (
            f"revoked key still accepted after {window} s"
        )
        await anyio.sleep(0.1)
    assert (await post_initialize(served.url, bearer(key))).status_code == 401
    again = run_cli(served.settings, "keys", "revoke", key_id)
    assert again.returncode == 1 and "no valid key" in again.stderr
    bad = run_cli(served.settings, "keys", "create", "--user", "not-a-uuid")
    assert bad.returncode == 2 and "invalid UUID" in bad.stderr


class CountingDatabase(Database):
    """The real database, counting the key lookups that reach it."""

    lookups = 0

    async def authenticate_key(self, key_hash: bytes) -> uuid.UUID | None:
        self.lookups += 1
        return await super().authenticate_key(key_hash)


async def test_a_checked_key_is_remembered_for_the_cache_time_only(served):
    """The key cache saves the lookup on repeated requests, and forgets a key after
    cache_seconds: revoked, it is refused from then on; an unknown key is never remembered."""
    database = CountingDatabase.from_settings(served.settings)
    await database.open()
    try:
        verifier = ApiKeyVerifier(database, cache_seconds=1.0)
        key_id, key = create_key(served.admin_url, uuid.UUID(SEATTLE), "test: cache")
        first = await verifier.verify_token(key)
        assert first is not None and first.subject == SEATTLE
        assert (await verifier.verify_token(key)).subject == SEATTLE  # type: ignore[union-attr]
        assert database.lookups == 1
        revoke_key(served.admin_url, key_id)
        checked = time.monotonic()
        still = await verifier.verify_token(key)
        if time.monotonic() - checked < 0.9:  # within the cache time: still the cached answer
            assert still is not None and database.lookups == 1
        await anyio.sleep(1.05)
        assert await verifier.verify_token(key) is None
        assert await verifier.verify_token(key) is None
        assert database.lookups == 3  # refusals are not remembered
        unknown = new_api_key()
        assert await verifier.verify_token(unknown) is None
        assert await verifier.verify_token(unknown) is None
        assert database.lookups == 5
        uncached = ApiKeyVerifier(database, cache_seconds=0)
        _, other = create_key(served.admin_url, uuid.UUID(SEATTLE), "test: no cache")
        for _ in range(3):
            assert await uncached.verify_token(other) is not None
        assert database.lookups == 8
    finally:
        await database.close()


async def test_stdio_serves_the_principal_of_its_key(served):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "zava_mcp", "serve", "--transport", "stdio"],
        env={
            **os.environ,
            "ZAVA_DATA_DIR": str(served.settings.data_dir),
            "ZAVA_DATABASE": served.settings.database_name,
            "ZAVA_API_KEY": served.keys["Seattle"],
        },
        cwd=str(PROJECT_ROOT),
    )
    async with Client(stdio_client(params)) as client:
        result = await client.call_tool("execute_sales_query", {"postgresql_query": COUNT_BY_STORE})
    assert [row[0] for row in result.structured_content["rows"]] == [STORE_IDS[SEATTLE]]


def test_stdio_refuses_a_bad_key(served):
    env = {
        **os.environ,
        "ZAVA_DATA_DIR": str(served.settings.data_dir),
        "ZAVA_DATABASE": served.settings.database_name,
        "ZAVA_API_KEY": "zava_wrong",
    }
    result = subprocess.run(
        [sys.executable, "-m", "zava_mcp", "serve", "--transport", "stdio"],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "ZAVA_API_KEY is not a valid key" in result.stderr


async def test_when_embeddings_are_down_only_semantic_search_fails(seeded, embedded_products):
    settings = server_settings(seeded[0])
    down = dataclasses.replace(
        settings,
        embeddings=dataclasses.replace(
            settings.embeddings,
            provider="openai",
            base_url="http://127.0.0.1:9/v1",
            max_retries=0,
            timeout_seconds=2,
        ),
    )
    import uuid

    from zava_mcp.identity import create_key

    _, key = create_key(seeded[1], uuid.UUID(SEATTLE), "test: provider down")
    with run_server(down, provider_from_settings(down.embeddings)) as base_url:
        async with mcp_client(f"{base_url}/mcp", bearer(key)) as client:
            search = await client.call_tool(
                "semantic_search_products", {"query_description": "hammer"}
            )
            query = await client.call_tool("execute_sales_query", {"postgresql_query": "select 1"})
            tables = await client.call_tool("list_tables", {})
    assert search.is_error
    assert "semantic search is unavailable" in search.content[0].text
    assert "The other tools still work" in search.content[0].text
    assert not query.is_error and query.structured_content["rows"] == [[1]]
    assert not tables.is_error
