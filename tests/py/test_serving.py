"""How the server starts and is configured: refusing an unsafe login role, stateless
HTTP, and settings read from a .env file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import (
    PROJECT_ROOT,
    SEATTLE,
    STORE_IDS,
    bearer,
    mcp_client,
    run_server,
    server_settings,
)
from zava_mcp.calls import Database, OutdatedSchema, UnsafeLoginRole
from zava_mcp.identity import create_key

pytestmark = pytest.mark.anyio


async def test_the_server_refuses_a_superuser_login(seeded):
    """The administrator's DSN is a superuser's: row level security would not apply."""
    pool = Database(seeded[1], budget_seconds=5)
    with pytest.raises(UnsafeLoginRole, match="is a superuser"):
        await pool.open()
    await pool.close()


async def test_the_server_accepts_its_login_role(seeded):
    from zava_mcp.database import login_url

    pool = Database(login_url(seeded[0]), budget_seconds=5)
    await pool.open()
    assert await pool.healthy()
    await pool.close()


async def test_the_server_warns_when_shared_buffers_cannot_hold_search(seeded, caplog):
    """At start-up the server logs mcp_internal.search_cache_warning's sentence, if any:
    none for the test database, which fits in shared_buffers; its login role gets the
    sentence for a cache smaller than the searched tables."""
    from zava_mcp.database import login_url

    pool = Database(login_url(seeded[0]), budget_seconds=5)
    with caplog.at_level("WARNING", logger="zava_mcp.calls"):
        await pool.open()
    try:
        assert not [r for r in caplog.records if "shared_buffers" in r.getMessage()]
        warning = await pool.lookup("select mcp_internal.search_cache_warning(8192)", ())
        assert warning.startswith("shared_buffers (8192 bytes) cannot hold what semantic search")
    finally:
        await pool.close()


async def test_the_server_asks_for_db_init_when_the_functions_are_older(seeded):
    """A server upgraded without `zava-mcp db init` finds a function it needs missing at
    start-up: it says what to run, not just that a function does not exist."""
    import psycopg

    from zava_mcp.database import login_url

    hide = "alter function mcp_internal.search_cache_warning(bigint) rename to {}"
    with psycopg.connect(seeded[1], autocommit=True) as admin:
        admin.execute(hide.format("search_cache_warning_hidden"))
        pool = Database(login_url(seeded[0]), budget_seconds=5)
        try:
            with pytest.raises(
                OutdatedSchema, match=r"older than this server .*run `zava-mcp db init`"
            ):
                await pool.open()
        finally:
            admin.execute(
                "alter function mcp_internal.search_cache_warning_hidden(bigint) "
                "rename to search_cache_warning"
            )
            await pool.close()


async def test_stateless_http_answers_without_sessions(seeded, local_provider, embedded_products):
    import uuid

    _, key = create_key(seeded[1], uuid.UUID(SEATTLE), "test: stateless")
    settings = server_settings(seeded[0], stateless=True)
    with run_server(settings, local_provider) as base_url:
        async with mcp_client(f"{base_url}/mcp", bearer(key)) as client:
            result = await client.call_tool(
                "execute_sales_query",
                {"postgresql_query": "select distinct store_id from retail.orders"},
            )
    assert result.structured_content["rows"] == [[STORE_IDS[SEATTLE]]]


def test_settings_come_from_a_dot_env_file(tmp_path):
    (tmp_path / ".env").write_text("ZAVA_EMBEDDING_DIM=lots\n")
    result = subprocess.run(
        [sys.executable, "-m", "zava_mcp", "db", "url"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT / "server")},
        timeout=60,
    )
    assert result.returncode == 1
    assert "ZAVA_EMBEDDING_DIM='lots' is not a whole number" in result.stderr
