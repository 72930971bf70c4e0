"""Fixtures: databases in the tests' embedded PostgreSQL (or under DATABASE_URL's server
when a test says so). scripts/test.sh sets ZAVA_DATA_DIR; run alone, pytest uses the same
default, .zava/test-pgdata."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from local_http import serving
from zava_mcp import database, schema
from zava_mcp.calls import Database
from zava_mcp.config import PROJECT_ROOT, Settings
from zava_mcp.embeddings import (
    EmbeddingProvider,
    QueryEmbedder,
    embed_products,
    provider_from_settings,
)
from zava_mcp.http_server import uvicorn_config
from zava_mcp.identity import create_key, list_keys, revoke_key
from zava_mcp.seed import seed
from zava_mcp.tools import Runtime, build_server, http_app

HEAD_OFFICE = "00000000-0000-0000-0000-000000000000"
SEATTLE = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
REDMOND = "e7f8a9b0-c1d2-3e4f-5678-90abcdef1234"
UNKNOWN = "11111111-1111-1111-1111-111111111111"
STORE_IDS = {SEATTLE: 1, REDMOND: 6}
TOOLS = {
    "get_multiple_table_schemas",
    "execute_sales_query",
    "semantic_search_products",
    "get_current_utc_date",
    "list_tables",
    "explain_query",
}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (pytest.mark.anyio) run on asyncio, as the server does."""
    return "asyncio"


def test_settings(database_name: str) -> Settings:
    """Settings for a database of the tests' own embedded PostgreSQL."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.setdefault("ZAVA_DATA_DIR", str(PROJECT_ROOT / ".zava" / "test-pgdata"))
    env["ZAVA_DATABASE"] = database_name
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def seeded() -> Iterator[tuple[Settings, str]]:
    """A database built and seeded at a small scale, shared by the read-only tests. Its
    name carries the process id, so that test runs side by side do not collide."""
    settings = test_settings(f"zava_pytest_{os.getpid()}")
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    seed(url, scale=0.02, random_seed=7, settings=settings)
    yield settings, url
    with psycopg.connect(database.admin_url(replace_database(settings, "postgres"))) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "select datname from pg_database where datname like %s",
                (f"zava_pytest%_{os.getpid()}",),
            )
        ]
    for name in names:
        database.drop_embedded_database(dataclasses.replace(settings, database_name=name))


@pytest.fixture
def admin(seeded: tuple[Settings, str]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded[1]) as conn:
        yield conn


def replace_database(settings: Settings, name: str) -> Settings:
    """Another database of the same server; test databases get this run's process id, so
    that runs side by side do not collide (the session drops them at its end)."""
    if name.startswith("zava_pytest"):
        name = f"{name}_{os.getpid()}"
    return dataclasses.replace(settings, database_name=name)


@contextlib.contextmanager
def managed_like_database(
    seeded_settings: Settings, name: str, prefix: str
) -> Iterator[tuple[Settings, str]]:
    """A database owned by a CREATEROLE, CREATEDB administrator that is no superuser, with
    pgvector created for it (as a managed service's allow-list does), and roles named
    after prefix. Yields the settings (database_url: the administrator's URL) and that
    URL; at the end the superuser drops the database, the principals' roles built in it
    and the other roles."""
    suffix = os.getpid()
    admin_role = f"{prefix}_admin_{suffix}"
    settings = dataclasses.replace(
        replace_database(seeded_settings, name),
        owner_role=f"{prefix}_owner_{suffix}",
        login_role=f"{prefix}_server_{suffix}",
        reader_role=f"{prefix}_reader_{suffix}",
    )
    superuser_url = database.admin_url(replace_database(seeded_settings, "postgres"))
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login createrole createdb nosuperuser nobypassrls").format(
                sql.Identifier(admin_role)
            )
        )
        conn.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(settings.database_name), sql.Identifier(admin_role)
            )
        )
    params = conninfo_to_dict(database.admin_url(settings))
    with psycopg.connect(make_conninfo("", **params), autocommit=True) as conn:
        conn.execute("create extension vector")
    params["user"] = admin_role
    admin_url = make_conninfo("", **params)
    try:
        yield dataclasses.replace(settings, database_url=admin_url), admin_url
    finally:
        database.drop_embedded_database(settings)  # with the principals' roles
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            database.drop_roles(
                conn, [settings.login_role, settings.reader_role, settings.owner_role, admin_role]
            )


# --- A real server: uvicorn on a free loopback port, in a thread of this process. ---


@dataclasses.dataclass
class Served:
    """A running zava-mcp server and what the tests need to talk to it."""

    url: str  # the MCP endpoint, http://127.0.0.1:PORT/mcp
    base_url: str
    keys: dict[str, str]  # "head office", "Seattle", "Redmond", "unknown", "revoked", "expired"
    admin_url: str
    settings: Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def run_server(settings: Settings, provider: EmbeddingProvider) -> Iterator[str]:
    """Serve the HTTP app on settings.server.port in a background thread until the block
    ends; yields the base URL."""
    runtime = Runtime.create(
        settings,
        Database.from_settings(settings),
        QueryEmbedder(provider, settings.embeddings.cache_size),
    )
    app = http_app(settings, build_server(settings, runtime), runtime)
    config = uvicorn_config(app, settings.server, lifespan="on")
    with serving(app, port=settings.server.port, config=config) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def local_provider() -> EmbeddingProvider:
    """The real local model, loaded once for the whole session."""
    return provider_from_settings(Settings.from_env({}).embeddings)


@pytest.fixture(scope="session")
def embedded_products(seeded, local_provider) -> None:
    """The shared test database's products, embedded by the local model."""
    asyncio.run(embed_products(seeded[1], local_provider, only_missing=True))


def server_settings(seeded_settings: Settings, **changes: Any) -> Settings:
    server = dataclasses.replace(seeded_settings.server, port=free_port(), **changes)
    return dataclasses.replace(seeded_settings, server=server)


@pytest.fixture(scope="session")
def served(seeded, local_provider, embedded_products) -> Iterator[Served]:
    """The server in its default mode (API keys), with keys for several principals."""
    settings, admin_url = seeded
    keys = {
        who: create_key(admin_url, uuid.UUID(principal), f"test: {who}")[1]
        for who, principal in (
            ("head office", HEAD_OFFICE),
            ("Seattle", SEATTLE),
            ("Redmond", REDMOND),
            ("unknown", UNKNOWN),
            ("revoked", SEATTLE),
            ("expired", HEAD_OFFICE),
        )
    }
    revoked_id = next(k.key_id for k in list_keys(admin_url) if k.name == "test: revoked")
    revoke_key(admin_url, revoked_id)
    with psycopg.connect(admin_url) as conn:
        conn.execute(
            "update mcp_internal.api_keys set expires_at = now() - interval '1 minute' "
            "where name = 'test: expired'"
        )
    settings = server_settings(settings, time_budget_seconds=3.0)
    with run_server(settings, local_provider) as base_url:
        yield Served(f"{base_url}/mcp", base_url, keys, admin_url, settings)


def mcp_client(url: str, headers: dict[str, str] | None = None) -> Client:
    """The official MCP client over Streamable HTTP."""
    return Client(
        streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers or {}))
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}


async def post_initialize(url: str, headers: dict[str, str]) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        return await http.post(
            url,
            json=INITIALIZE,
            headers={"Accept": "application/json, text/event-stream", **headers},
        )
