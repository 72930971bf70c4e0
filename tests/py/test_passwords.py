"""Principals' roles under password authentication, as on managed PostgreSQL: a server of
its own that asks for SCRAM-SHA-256 over TCP, passwords given by
infra/docker/set_login_password.py, and the server logging in as each principal with the
password it derives from its own."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from conftest import SEATTLE, STORE_IDS
from conftest import test_settings as settings_of_database
from standby import SUPERUSER, Node, _give, free_port, run, system_user
from zava_mcp import schema
from zava_mcp.calls import CallRefused, Database
from zava_mcp.config import PROJECT_ROOT
from zava_mcp.seed import seed

pytestmark = pytest.mark.anyio

PASSWORD = "a-server-password-of-24chars"
DATABASE = "zava_passwords"


@pytest.fixture(scope="module")
def scram_server() -> Iterator[tuple[str, int]]:
    """A PostgreSQL that trusts its superuser on the Unix socket only and asks every TCP
    login for a SCRAM password; built and seeded. Yields (superuser URL, TCP port)."""
    user = system_user()
    base = Path(tempfile.mkdtemp(prefix="zava-scram-", dir=PROJECT_ROOT / ".zava"))
    sockets = Path(tempfile.mkdtemp(prefix="zava-scram-sock-"))
    for path in (base, sockets):
        _give(path, user)
    node = Node("scram", base / "data", free_port(), sockets, user)
    run(
        "initdb",
        [
            *("-D", str(node.data_dir), "-U", SUPERUSER, "--auth-local=trust"),
            *("--auth-host=scram-sha-256", "--no-sync", "--no-instructions"),
        ],
        user=user,
        timeout=120,
    )
    node.start()
    try:
        superuser = make_conninfo("", host=str(sockets), port=node.port, user=SUPERUSER)
        with psycopg.connect(superuser + " dbname=postgres", autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
        url = superuser + f" dbname={DATABASE}"
        settings = dataclasses.replace(settings_of_database(DATABASE), database_url=url)
        schema.build(url, settings)
        seed(url, scale=0.01, random_seed=5, settings=settings)
        yield url, node.port
    finally:
        node.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


def set_passwords(admin_url: str) -> subprocess.CompletedProcess[str]:
    script = PROJECT_ROOT / "infra" / "docker" / "set_login_password.py"
    env = {**os.environ, "DATABASE_URL": admin_url, "ZAVA_SERVER_PASSWORD": PASSWORD}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )


def server_url(port: int, password: str) -> str:
    return make_conninfo(
        "", host="127.0.0.1", port=port, dbname=DATABASE, user="zava_server", password=password
    )


async def test_the_server_logs_in_as_a_principal_with_the_password_it_derives(scram_server):
    admin_url, port = scram_server
    result = set_passwords(admin_url)
    assert result.returncode == 0, result.stderr
    assert "zava_server and 9 principal roles have passwords" in result.stdout
    db = Database(server_url(port, PASSWORD), budget_seconds=10, min_size=1, max_size=2)
    await db.open()
    try:
        answer = await db.call(
            uuid.UUID(SEATTLE),
            "select mcp.run_query(%s, %s)",
            ["select distinct store_id from retail.orders", 10],
        )
    finally:
        await db.close()
    assert answer["rows"] == [[STORE_IDS[SEATTLE]]]


async def test_another_server_password_opens_no_principals_role(scram_server):
    """A principal's password follows from the server's: without it, no login as any
    principal (here the server's own login is given, the principals' are derived wrong)."""
    admin_url, port = scram_server
    assert set_passwords(admin_url).returncode == 0
    db = Database(server_url(port, PASSWORD), budget_seconds=3, min_size=1, max_size=2)
    db.calls.server_password = "not-the-server-password-24"
    await db.open()
    try:
        with pytest.raises(CallRefused):
            await db.call(uuid.UUID(SEATTLE), "select mcp.current_principal()", [])
    finally:
        await db.close()
    with psycopg.connect(admin_url) as conn:
        role = conn.execute(
            "select role_name from mcp_internal.principal_roles where rls_user_id = %s",
            (SEATTLE,),
        ).fetchone()[0]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            make_conninfo("", host="127.0.0.1", port=port, dbname=DATABASE, user=role),
            password="guess",
        ).close()
