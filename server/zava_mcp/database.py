"""Where the database is: the embedded PostgreSQL, or the one DATABASE_URL names."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from zava_mcp.config import Settings

log = logging.getLogger(__name__)


def _import_pgserver():  # -> the pgserver module
    # pgserver keeps a lock file in the user's runtime directory, chosen when it is first
    # imported; give it one when the environment has none (root in a container, CI).
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime_dir = Path(tempfile.gettempdir()) / f"zava-mcp-runtime-{os.getuid()}"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    import pgserver

    return pgserver


def embedded_bin_dir() -> Path:
    """The PostgreSQL binaries (psql, pg_ctl, ...) shipped inside the pgserver wheel."""
    _import_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _embedded_server(settings: Settings):  # -> pgserver.PostgresServer
    """Start the embedded PostgreSQL (initdb on first use) and leave it running.

    It keeps running after this process exits, so that `psql "$(zava-mcp db url)"` works;
    `zava-mcp db stop` stops it.
    """
    pgserver = _import_pgserver()
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(settings.data_dir, cleanup_mode=None)


def admin_url(settings: Settings) -> str:
    """A DSN with the right to build the schema: DATABASE_URL, or the embedded superuser.

    For the embedded PostgreSQL this starts it and creates the database when needed.
    """
    if settings.database_url:
        return settings.database_url
    server = _embedded_server(settings)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (settings.database_name,)
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("create database {}").format(sql.Identifier(settings.database_name))
            )
    return server.get_uri(settings.database_name)


def drop_embedded_database(settings: Settings) -> None:
    """Drop the embedded database (used by `db reset`); never touches DATABASE_URL."""
    assert not settings.database_url
    server = _embedded_server(settings)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(settings.database_name)
            )
        )


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded PostgreSQL if it runs; True when it was running."""
    pid_file = settings.data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pg_ctl = embedded_bin_dir() / "pg_ctl"
    command = [str(pg_ctl), "stop", "-D", str(settings.data_dir), "-m", "fast", "-w"]
    if os.geteuid() == 0:  # pgserver runs the server as its own user when we are root
        command = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(command)]
    subprocess.run(command, check=True, capture_output=True)
    return True
