"""PgBouncer (the Debian package) on a free loopback port in front of the tests' embedded
PostgreSQL, for tests: see docs/pgbouncer.md for the configuration and why.

    with pgbouncer(admin_url, users=[...], default_pool_size=2) as bouncer:
        bouncer.url("zava_server")  # a DSN that logs in through PgBouncer
        bouncer.show("servers")     # rows of the admin console's SHOW SERVERS
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ADMIN_USER = "pgbouncer_admin"  # PgBouncer's own console user; no PostgreSQL role
START_SECONDS = 15.0


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (Debian installs it in /usr/sbin, often not on PATH)."""
    return shutil.which("pgbouncer") or next(
        (
            path
            for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
            if os.access(path, os.X_OK)
        ),
        None,
    )


@dataclasses.dataclass
class PgBouncer:
    """A running PgBouncer: where it listens and how to ask its admin console."""

    port: int
    dbname: str
    workdir: Path
    auth_file: Path
    process: subprocess.Popen[bytes]
    config: dict[str, str]
    admin_password: str

    def url(self, user: str, dbname: str | None = None, password: str | None = None) -> str:
        """A DSN through PgBouncer as user (with password when given)."""
        params: dict[str, Any] = {"password": password} if password else {}
        return make_conninfo(
            "", host="127.0.0.1", port=self.port, dbname=dbname or self.dbname, user=user, **params
        )

    def show(self, what: str) -> list[dict[str, Any]]:
        """The rows of `SHOW <what>` on the admin console, as dictionaries. The console
        speaks only the simple query protocol, hence the client-side cursor."""
        assert what.replace("_", "").isalpha()
        with psycopg.connect(
            self.url(ADMIN_USER, "pgbouncer", self.admin_password),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:
            cursor = conn.execute(f"show {what}")  # type: ignore[arg-type]
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def admin_command(self, command: str) -> None:
        """An admin console command such as RELOAD."""
        assert command.replace(" ", "").replace("_", "").isalnum()
        with psycopg.connect(
            self.url(ADMIN_USER, "pgbouncer", self.admin_password),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:
            conn.execute(command)  # type: ignore[arg-type]

    def set_users(self, users: Iterable[str] | Mapping[str, str]) -> None:
        """Rewrite the auth_file (every user PgBouncer lets in) and reload it."""
        write_auth_file(self.auth_file, users, self.admin_password)
        self.admin_command("reload")

    def log(self) -> str:
        path = self.workdir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def auth_file_text(users: Iterable[str] | Mapping[str, str], admin_password: str) -> str:
    """PgBouncer's auth_file: a line `"user" "password"` per user (a double quote inside
    is doubled). With auth_type trust the passwords are ignored, but only the users listed
    are let in; with scram-sha-256, PgBouncer checks the client's password against the
    plain-text one here and logs in to PostgreSQL with it."""
    passwords = dict(users) if isinstance(users, Mapping) else dict.fromkeys(users, "")
    passwords[ADMIN_USER] = admin_password

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return "".join(f"{quoted(user)} {quoted(passwords[user])}\n" for user in sorted(passwords))


def write_auth_file(
    path: Path, users: Iterable[str] | Mapping[str, str], admin_password: str
) -> None:
    path.write_text(auth_file_text(users, admin_password))
    path.chmod(0o600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _upstream(admin_url: str) -> tuple[str, str, str]:
    """Host (a socket directory or an address), port and database of admin_url."""
    params = conninfo_to_dict(admin_url)
    return (
        str(params.get("host") or "/tmp"),
        str(params.get("port") or "5432"),
        str(params["dbname"]),
    )


def _run_as(admin_url: str) -> str | None:
    """PgBouncer refuses to run as root: then it runs as the owner of the embedded
    PostgreSQL's socket directory (the wheel's own user), who may open that socket."""
    if os.geteuid() != 0:
        return None
    host, _, _ = _upstream(admin_url)
    if host.startswith("/"):
        return pwd.getpwuid(Path(host).stat().st_uid).pw_name
    return "nobody"


@contextlib.contextmanager
def pgbouncer(
    admin_url: str,
    *,
    users: Iterable[str] | Mapping[str, str],
    auth_type: str = "trust",
    default_pool_size: int = 2,
    max_db_connections: int = 0,
    max_client_conn: int = 500,
    query_wait_timeout: int = 2,
    extra: dict[str, str] | None = None,
) -> Iterator[PgBouncer]:
    """PgBouncer in transaction pooling mode in front of admin_url's database (each
    client's user logs in to PostgreSQL as itself: a pool per user), until the block ends.
    query_wait_timeout (seconds a client may wait for a server connection) is below the
    tests' time budget of 3 s: a call queued in PgBouncer cannot be cancelled, so only
    PgBouncer can end its wait. The configuration and log live in a temporary directory,
    kept when start-up fails."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    host, upstream_port, dbname = _upstream(admin_url)
    user = _run_as(admin_url)
    workdir = Path(tempfile.mkdtemp(prefix="zava-pgbouncer-"))
    auth_file = workdir / "userlist.txt"
    admin_password = secrets.token_hex(16)
    write_auth_file(auth_file, users, admin_password)
    port = free_port()
    config = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": auth_type,
        "auth_file": str(auth_file),
        "admin_users": ADMIN_USER,
        "pool_mode": "transaction",
        "default_pool_size": str(default_pool_size),
        "min_pool_size": "0",
        "reserve_pool_size": "0",
        "max_db_connections": str(max_db_connections),
        "max_client_conn": str(max_client_conn),
        # Not run in transaction mode (server_reset_query_always = 0): the server cleans
        # each call's session state inside the call's own pipeline.
        "server_reset_query": "DISCARD ALL",
        "server_reset_query_always": "0",
        "server_check_delay": "10",
        "server_connect_timeout": "5",
        "server_login_retry": "1",
        "query_wait_timeout": str(query_wait_timeout),
        "server_idle_timeout": "20",
        "logfile": str(workdir / "pgbouncer.log"),
        "pidfile": str(workdir / "pgbouncer.pid"),
        "log_connections": "1",
        "log_disconnections": "1",
        **(extra or {}),
    }
    lines = [
        "[databases]",
        f"{dbname} = host={host} port={upstream_port} dbname={dbname}",
        "",
        "[pgbouncer]",
        *(f"{key} = {value}" for key, value in config.items()),
    ]
    config_file = workdir / "pgbouncer.ini"
    config_file.write_text("\n".join(lines) + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, auth_file, config_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    command = [binary, *(["-u", user] if user else []), str(config_file)]
    with open(workdir / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    bouncer = PgBouncer(port, dbname, workdir, auth_file, process, config, admin_password)
    failed = True
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"pgbouncer exited with {process.returncode} at start-up: "
                    f"{(workdir / 'stderr.log').read_text(errors='replace')}{bouncer.log()}"
                )
            try:
                bouncer.show("version")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"pgbouncer did not answer within {START_SECONDS:g} s: {bouncer.log()}"
                    ) from None
                time.sleep(0.05)
        yield bouncer
        failed = False
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # shut down at once, closing every connection
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
