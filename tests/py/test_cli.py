"""The zava-mcp command as a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg

from conftest import PROJECT_ROOT
from zava_mcp import __version__


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zava_mcp", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=PROJECT_ROOT,
        timeout=300,
    )


def cli_env(seeded) -> dict[str, str]:
    settings = seeded[0]
    return {"ZAVA_DATA_DIR": str(settings.data_dir), "ZAVA_DATABASE": settings.database_name}


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"zava-mcp {__version__}"


def test_db_url_prints_a_dsn_a_dba_can_use(seeded):
    result = run_cli("db", "url", env=cli_env(seeded))
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert "\n" not in url
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == seeded[0].database_name
        assert conn.execute("select count(*) from retail.stores").fetchone()[0] == 8


def test_db_init_runs_again_on_a_built_database(seeded):
    result = run_cli("db", "init", env=cli_env(seeded))
    assert result.returncode == 0, result.stderr
    assert "database built" in result.stderr


def test_bad_configuration_is_a_one_line_error(seeded):
    result = run_cli("db", "init", env={**cli_env(seeded), "ZAVA_EMBEDDING_DIM": "x"})
    assert result.returncode == 1
    assert "error: ZAVA_EMBEDDING_DIM='x' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_clear_error():
    result = run_cli(
        "db", "init", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"}
    )
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_command_prints_help():
    result = run_cli()
    assert result.returncode == 2
    assert "usage: zava-mcp" in result.stdout


def test_embedded_binaries_are_found():
    from zava_mcp.database import embedded_bin_dir

    assert (embedded_bin_dir() / "psql").exists()
    assert (embedded_bin_dir() / "pg_ctl").exists()


def test_db_stop_then_url_starts_it_again(tmp_path):
    env = {"ZAVA_DATA_DIR": str(tmp_path / "pgdata"), "ZAVA_DATABASE": "zava_stop"}
    assert run_cli("db", "url", env=env).returncode == 0
    stopped = run_cli("db", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "embedded PostgreSQL stopped" in stopped.stderr
    again = run_cli("db", "stop", env=env)
    assert "was not running" in again.stderr
    restarted = run_cli("db", "url", env=env)
    assert restarted.returncode == 0, restarted.stderr
    with psycopg.connect(restarted.stdout.strip()) as conn:
        assert conn.execute("select 1").fetchone()[0] == 1
    run_cli("db", "stop", env=env)


def test_db_psql_runs_psql_as_the_administrator(seeded):
    result = run_cli(
        "db", "psql", "-At", "-c", "select count(*) from retail.stores", env=cli_env(seeded)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8"
    assert "WARNING" not in result.stderr  # no client/server version mismatch


def test_the_demo_on_a_busy_port_stops_before_making_keys(seeded):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with psycopg.connect(seeded[1]) as conn:
            (keys,) = conn.execute("select count(*) from mcp_internal.api_keys").fetchone()
        result = run_cli("demo", "--port", str(port), env=cli_env(seeded))
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert f"--port {port + 1}" in result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(seeded[1]) as conn:
        assert conn.execute("select count(*) from mcp_internal.api_keys").fetchone() == (keys,)
