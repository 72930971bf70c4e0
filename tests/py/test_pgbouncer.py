"""Tool calls through PgBouncer in transaction pooling mode (issue 10, "Connections";
docs/pgbouncer.md).

A database of its own in the tests' embedded PostgreSQL, PgBouncer (the Debian package) on
a loopback port in front of it, and a zava-mcp server whose every connection goes through
PgBouncer (ZAVA_SERVER_DATABASE_URL = PgBouncer, so the server's own role and every
principal's role log in through it). The tests prove that

- calls really go through PgBouncer (their backends are PgBouncer's server connections)
  and each principal still sees only its own stores;
- the concurrent-caller attacks of isolation_cases.py that a pooler could change hold
  through it (ZAVA_PGBOUNCER_ALL_CASES=1: all of them);
- PgBouncer admits only the roles its auth_file lists, and with scram-sha-256 every
  principal logs in with the password the server derives from its own;
- a read URL is no way to reach PgBouncer in front of the primary (libpq goes around it);
- PgBouncer pools per (user, database), so two principals never share a server connection,
  even when a call leaves session state behind;
- a call inherits no session state of its own principal's earlier calls (the server cleans
  each call in the call's own pipeline, a failed or cancelled one too);
- the number of PostgreSQL backends under load by 8 stores and head office stays within
  what the pool settings allow, with and without PgBouncer (the figures are printed:
  pytest -s).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import secrets
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from psycopg import sql

from conftest import run_server, server_settings
from conftest import test_settings as settings_of_database
from isolation_cases import (
    CASES,
    PRINCIPALS,
    QUERY,
    Answer,
    Case,
    Finding,
    client,
    problems,
    run_isolation_cases,
    send,
)
from pgbouncer import PgBouncer, pgbouncer, pgbouncer_binary
from zava_mcp import database, schema
from zava_mcp.config import LOCAL_DIMENSIONS, LOCAL_MODEL, Settings
from zava_mcp.embeddings import EmbeddingError
from zava_mcp.identity import create_key
from zava_mcp.seed import seed

# PgBouncer's default_pool_size: server connections per (principal's role, database).
POOL_SIZE = 2
# The server's ZAVA_PRINCIPAL_POOL_MAX in the load test (connections per principal per
# server process), and how many server processes share the one PgBouncer there.
PRINCIPAL_POOL_MAX = 3
SERVER_PROCESSES = 2
# What each principal sends at once per server process in the load test, and how often.
LOAD_CONCURRENCY = 6
LOAD_ROUNDS = 2
LOAD_QUERY = "select pg_sleep(0.1)::text as slept, count(*) as orders from retail.orders"

WHO_AM_I = (
    "select pg_backend_pid() as pid, session_user::text as login, "
    "(select array_agg(distinct o.store_id order by o.store_id) from retail.orders as o) "
    "as stores"
)


class NoEmbeddings:
    """These tests search nothing: an embedding provider that needs no model."""

    model_name = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise EmbeddingError("no embeddings in the PgBouncer tests")

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class Behind:
    """The database behind PgBouncer: settings, its superuser URL (direct, never through
    PgBouncer), every principal's login role and an API key for each, by conftest's names
    ("head office", "Seattle", ...)."""

    settings: Settings
    admin_url: str
    roles: dict[str, str]
    keys: dict[str, str]

    @property
    def users(self) -> list[str]:
        """Everyone PgBouncer must let in: the principals' roles and the server's own."""
        return [*self.roles.values(), self.settings.login_role]


@pytest.fixture(scope="module")
def behind() -> Iterator[Behind]:
    assert pgbouncer_binary(), "pgbouncer is missing: scripts/setup.sh --test installs it"
    settings = settings_of_database(f"zava_pytest_pgbouncer_{os.getpid()}")
    database.drop_embedded_database(settings)
    admin_url = database.admin_url(settings)
    roles: dict[str, str] = {}
    try:
        schema.build(admin_url, settings)
        seed(admin_url, scale=0.02, random_seed=7, settings=settings)
        with psycopg.connect(admin_url) as conn:
            by_principal = dict(
                conn.execute(
                    "select rls_user_id::text, role_name from mcp_internal.principal_roles"
                ).fetchall()
            )
        roles = {who: by_principal[principal] for who, (principal, _) in PRINCIPALS.items()}
        keys = {
            who: create_key(admin_url, uuid.UUID(principal), f"pgbouncer: {who}")[1]
            for who, (principal, _) in PRINCIPALS.items()
        }
        yield Behind(settings, admin_url, roles, keys)
    finally:
        database.drop_embedded_database(settings)
        with psycopg.connect(
            database.admin_url(dataclasses.replace(settings, database_name="postgres")),
            autocommit=True,
        ) as conn:
            for role in roles.values():
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def bouncer(behind: Behind) -> Iterator[PgBouncer]:
    """The PgBouncer of the module's server, with as many backends per role as one server
    process keeps connections per principal, so that no call of that one process waits in
    PgBouncer's queue. A call that does wait there can miss its cancel and overrun its time
    budget by psycopg's 5 s wait for the cancel (see docs/pgbouncer.md), past the isolation
    runner's HTTP timeout; the tests of queueing and of sharing a backend between calls use
    PgBouncers of their own with POOL_SIZE."""
    size = behind.settings.server.principal_pool_max
    with pgbouncer(behind.admin_url, users=behind.users, default_pool_size=size) as running:
        yield running


@contextlib.contextmanager
def server_through(behind: Behind, bouncer: PgBouncer | None, **changes: Any) -> Iterator[str]:
    """A zava-mcp server (API keys, 3 s budget unless changed) whose connections all go
    through bouncer (or straight to PostgreSQL when None); yields its MCP endpoint."""
    if bouncer is not None:
        changes["database_url"] = bouncer.url(behind.settings.login_role)
    changes.setdefault("time_budget_seconds", 3.0)
    settings = server_settings(behind.settings, **changes)
    with run_server(settings, NoEmbeddings()) as base_url:
        yield f"{base_url}/mcp"


@pytest.fixture(scope="module")
def served(behind: Behind, bouncer: PgBouncer) -> Iterator[str]:
    with server_through(behind, bouncer) as url:
        yield url


def server_pids(bouncer: PgBouncer) -> dict[int, str]:
    """PgBouncer's server connections: backend pid -> the user it logged in as."""
    return {row["remote_pid"]: row["user"] for row in bouncer.show("servers")}


def backends(admin_url: str) -> dict[int, str]:
    """Client backends of the database (but the asking one): pid -> user name."""
    with psycopg.connect(admin_url) as conn:
        return dict(
            conn.execute(
                "select pid, usename::text from pg_stat_activity "
                "where datname = current_database() and backend_type = 'client backend' "
                "and pid <> pg_backend_pid()"
            ).fetchall()
        )


async def ask(url: str, key: str, who: str, query: str) -> Answer:
    async with client(url, key) as session:
        return await send(session, who, QUERY, {"postgresql_query": query})


# --- (a) Calls go through PgBouncer, and each principal sees its own stores. ----------------


def test_calls_go_through_pgbouncer_and_see_only_their_stores(behind, bouncer, served):
    async def main() -> dict[str, Answer]:
        return {
            who: await ask(served, behind.keys[who], who, WHO_AM_I)
            for who in ("Seattle", "Redmond", "head office")
        }

    answers = asyncio.run(main())
    for answer in answers.values():
        assert not answer.is_error, answer.text
    assert answers["Seattle"].column("stores") == [[1]]
    assert answers["Redmond"].column("stores") == [[6]]
    assert answers["head office"].column("stores") == [list(range(1, 9))]

    servers = server_pids(bouncer)
    for who, answer in answers.items():
        (pid,) = answer.column("pid")
        (login,) = answer.column("login")
        assert login == behind.roles[who]
        # The backend that served the call is one of PgBouncer's server connections, and
        # PgBouncer logged it in as the principal's own role.
        assert servers.get(pid) == login, f"{who}'s call ran on pid {pid}, not PgBouncer's"

    # Every backend of a principal's role or of the server's own role in this database is
    # PgBouncer's: nothing connected around it.
    ours = set(behind.users)
    direct = {
        pid: user
        for pid, user in backends(behind.admin_url).items()
        if user in ours and pid not in servers
    }
    assert not direct, f"backends that did not come through PgBouncer: {direct}"
    pools = {row["user"]: row for row in bouncer.show("pools") if row["database"] == bouncer.dbname}
    assert behind.settings.login_role in pools
    assert {behind.roles[who] for who in answers} <= set(pools)
    assert {row["pool_mode"] for row in pools.values()} == {"transaction"}


def test_pgbouncer_admits_only_the_roles_it_lists(behind, bouncer):
    """auth_type trust still checks the user against the auth_file: a role that is not
    listed (here the superuser) cannot log in through PgBouncer."""
    with pytest.raises(psycopg.OperationalError, match=r"authentication failed|no such user"):
        psycopg.connect(bouncer.url("postgres"), connect_timeout=5).close()


def test_principals_log_in_with_the_passwords_the_server_derives(behind):
    """PgBouncer with auth_type scram-sha-256 and an auth_file of the passwords the server
    derives from its own (docs/pgbouncer.md, as on a database where the roles have
    passwords): the server gives only ZAVA_SERVER_DATABASE_URL's password, and every
    principal's role logs in; a wrong password is refused."""
    server_password = secrets.token_urlsafe(24)
    login = behind.settings.login_role
    passwords = {
        role: database.principal_password(server_password, role) for role in behind.roles.values()
    }
    passwords[login] = server_password
    with pgbouncer(behind.admin_url, users=passwords, auth_type="scram-sha-256") as own:
        with server_through(
            behind, None, database_url=own.url(login, password=server_password)
        ) as url:
            answer = asyncio.run(ask(url, behind.keys["Seattle"], "Seattle", WHO_AM_I))
        assert answer.column("stores") == [[1]], answer.text
        assert server_pids(own).get(answer.column("pid")[0]) == behind.roles["Seattle"]
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(
                own.url(behind.roles["Seattle"], password=server_password), connect_timeout=5
            ).close()


def sessions_started(admin_url: str) -> int:
    """PostgreSQL's count of sessions started in the database (less the one asking)."""
    time.sleep(0.3)  # a backend reports its session when it ends
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        row = conn.execute(
            "select sessions from pg_stat_database where datname = current_database()"
        ).fetchone()
    assert row is not None
    return row[0] - 1


def test_a_read_url_is_no_way_to_reach_pgbouncer_of_the_primary(behind, bouncer):
    """Why the docs point ZAVA_SERVER_DATABASE_URL, not a read URL, at PgBouncer in front
    of the primary. With PgBouncer as a read URL, the principals' connections
    (call_conninfo) let libpq look for a standby (prefer-standby) among PgBouncer and the
    primary: it finds none, so every connection logs in at PgBouncer twice and once at the
    primary itself before it settles on PgBouncer. With PgBouncer as the server's own
    URL, a connection logs in once, at PgBouncer, and PostgreSQL sees no new session."""
    role = behind.roles["Seattle"]
    login = behind.settings.login_role
    connections = 8
    logins: dict[str, int] = {}
    sessions: dict[str, int] = {}
    for way, conninfo in (
        (
            "read URL",
            database.call_conninfo(database.login_url(behind.settings), [bouncer.url(login)]),
        ),
        ("server URL", database.call_conninfo(bouncer.url(login))),
    ):
        before_logins = bouncer.log().count(f"login attempt: db={bouncer.dbname} user={role} ")
        before_sessions = sessions_started(behind.admin_url)
        for _ in range(connections):
            with psycopg.connect(conninfo, user=role, autocommit=True) as conn:
                conn.execute("select 1")
                assert conn.info.port == bouncer.port  # it ends at PgBouncer either way
        logins[way] = (
            bouncer.log().count(f"login attempt: db={bouncer.dbname} user={role} ") - before_logins
        )
        sessions[way] = sessions_started(behind.admin_url) - before_sessions
    print(
        f"{connections} connections: logins at PgBouncer {logins}, sessions on PostgreSQL {sessions}"
    )
    assert logins == {"read URL": 2 * connections, "server URL": connections}
    assert sessions["read URL"] >= connections
    assert sessions["server URL"] <= 1  # at most a new backend of PgBouncer's


# --- (b) The concurrent-caller attacks, through PgBouncer. ----------------------------------

# The cases where a pooler in between could change the outcome: what other sessions show
# (PgBouncer's server connections, their user and application names), signalling them,
# locks left on a server connection that serves another client next, waiting for a server
# connection, and session state. ZAVA_PGBOUNCER_ALL_CASES=1 runs all of them (about three
# minutes; all held through PgBouncer when this was written).
POOLING_CASES = (
    "activity: the issue's reproduction (role reset, query like '%vip.%') shows nothing",
    "activity: the victim's own backends, read whole by pid after a role reset, show nothing",
    "activity: user names, application names and client details name no principal",
    "backend functions: waits, start times and clients of every backend name no principal",
    "locks: every lock of another backend (keys, pids, modes) names no principal",
    "signals: cancelling the victim's backends after a role reset is refused",
    "signals: terminating every other client backend after a role reset touches no victim",
    "signals: cancels repeated across the victim's loop are all refused",
    "advisory: waiting for exclusive locks on keys another backend holds stalls no victim",
    "advisory: session locks on keys derived from principals do not survive the call",
    "waiting: calls waiting on a lock held elsewhere exhaust no connection of the victim",
    "waiting: head office and Seattle waiting on a held lock at once stall no victim",
    "session: prepared statements after a role reset show no marker",
    "session: settings and custom placeholders after a role reset name no principal",
)
SELECTED = (
    CASES
    if os.environ.get("ZAVA_PGBOUNCER_ALL_CASES") == "1"
    else [case for case in CASES if case.case_id in POOLING_CASES]
)
CASE_IDS = [case.case_id for case in SELECTED]


def test_the_chosen_isolation_cases_exist() -> None:
    """A case renamed in isolation_cases.py must be renamed here too, not dropped."""
    known = {case.case_id for case in CASES}
    assert [case_id for case_id in POOLING_CASES if case_id not in known] == []


@pytest.fixture(scope="module")
def isolation_findings(behind: Behind, served: str) -> dict[str, Finding]:
    """Every case of isolation_cases.py against the server behind PgBouncer; the
    administrator's view (pg_stat_activity, pg_locks) is PostgreSQL's own, not PgBouncer's."""
    keys = {who: behind.keys[who] for who in ("head office", "Seattle", "Redmond")}
    findings = asyncio.run(run_isolation_cases(served, keys, behind.admin_url, SELECTED))
    by_id = {finding.case.case_id: finding for finding in findings}
    assert list(by_id) == CASE_IDS
    return by_id


@pytest.mark.parametrize("case", SELECTED, ids=CASE_IDS)
def test_isolation_case_holds_through_pgbouncer(case: Case, isolation_findings) -> None:
    finding = isolation_findings[case.case_id]
    assert finding.attacks, f"{case.case_id}: no attack was sent: {finding.problems}"
    assert not finding.problems, finding.summary() + "\n" + "\n".join(problems([finding]))


# --- Transaction pooling: session state and who shares a server connection. -----------------

# A call that takes a session advisory lock and then fails, so that the cleaning statements
# of its pipeline never run: what a rollback leaves behind (the lock) stays on the backend
# until the server's pool cleans the connection, in transactions of their own.
FAILS_LEAVING_A_LOCK = (
    "with l as materialized (select pg_advisory_lock({key}) as locked, "
    "set_config('zava.left_behind', 'by another call', false) as setting) "
    "select 1 / ((select count(*) from l) - 1)::int as boom"
)
# The same lock in a call that succeeds (its pipeline's cleaning releases it).
SUCCEEDS_LEAVING_A_LOCK = "select pg_advisory_lock({key}) is null as locked"
# What a later call finds on its backend.
PROBE = (
    "select pg_backend_pid() as pid, session_user::text as login, "
    "pg_sleep(0.03)::text as slept, "
    "(select count(*) from pg_locks as l where l.locktype = 'advisory' "
    "and l.pid = pg_backend_pid() and l.granted) as advisory_locks, "
    "current_setting('zava.left_behind', true) as left_behind"
)


async def loop(url: str, key: str, who: str, queries: Sequence[str]) -> list[Answer]:
    async with client(url, key) as session:
        return [await send(session, who, QUERY, {"postgresql_query": query}) for query in queries]


async def mixed_load(url: str, behind: Behind, plan: dict[str, list[list[str]]]) -> list[Answer]:
    """Each principal's loops (lists of queries), all at once, each loop on an MCP session
    of its own."""
    loops = [
        loop(url, behind.keys[who], who, queries)
        for who, per_loop in plan.items()
        for queries in per_loop
    ]
    return [answer for answers in await asyncio.gather(*loops) for answer in answers]


def leaving_locks(template: str, loops: int, calls: int, base: int) -> list[list[str]]:
    return [[template.format(key=base + 100 * n + i) for i in range(calls)] for n in range(loops)]


def test_principals_never_share_a_server_connection(behind):
    """PgBouncer pools per (user, database): Redmond's and head office's calls never run on
    a backend that served Seattle, and so never find what Seattle's calls leave behind, even
    while Seattle's failing calls leave session advisory locks on its own backends."""
    with (
        pgbouncer(behind.admin_url, users=behind.users, default_pool_size=POOL_SIZE) as own,
        server_through(behind, own) as url,
    ):
        plan = {
            "Seattle": [
                *leaving_locks(FAILS_LEAVING_A_LOCK, 2, 8, 91_000),
                *leaving_locks(SUCCEEDS_LEAVING_A_LOCK, 2, 8, 92_000),
                *([PROBE] * 10 for _ in range(2)),
            ],
            "Redmond": [[PROBE] * 12 for _ in range(4)],
            "head office": [[PROBE] * 12 for _ in range(2)],
        }
        answers = asyncio.run(mixed_load(url, behind, plan))
        servers = server_pids(own)
    failed = [a for a in answers if a.who == "Seattle" and "division by zero" in a.text]
    assert len(failed) == 16, "Seattle's failing calls did not fail as planned"
    probes = [a for a in answers if a.column("pid")]
    assert len(probes) == 20 + 48 + 24, [a.text for a in answers if a.is_error][:3]
    logins_of_pid: dict[int, set[str]] = collections.defaultdict(set)
    for answer in probes:
        (pid,) = answer.column("pid")
        (login,) = answer.column("login")
        assert login == behind.roles[answer.who]
        logins_of_pid[pid].add(login)
        if servers.get(pid) is not None:
            assert servers[pid] == login
        if answer.who != "Seattle":
            assert answer.column("advisory_locks") == [0], f"{answer.who} found a lock"
            assert answer.column("left_behind") in ([None], [""])
    shared = {pid: logins for pid, logins in logins_of_pid.items() if len(logins) > 1}
    assert not shared, f"backends that served more than one principal: {shared}"
    print(
        "backends that served the probes, per principal: "
        + ", ".join(
            f"{who} {len({a.column('pid')[0] for a in probes if a.who == who})}" for who in plan
        )
    )


FAILED_CALL = "a failed call"
RESET_BY_PGBOUNCER = "a failed call, with PgBouncer's reset query"


@pytest.mark.parametrize(
    "path",
    [
        "a call that succeeded",
        FAILED_CALL,
        RESET_BY_PGBOUNCER,
    ],
)
def test_no_call_inherits_a_session_lock_of_its_principals_earlier_calls(behind, path):
    """Property 6 through transaction pooling: a call of Seattle's leaves a session advisory
    lock (which a rollback does not release) and later calls of Seattle's, on whichever
    server connection PgBouncer gives them, find none. The pool is kept busy, so that a
    connection a call released goes straight to a waiting client."""
    extra = {}
    if path == RESET_BY_PGBOUNCER:
        extra = {
            "server_reset_query_always": "1",
            "server_reset_query": "select pg_advisory_unlock_all()",
        }
    template = SUCCEEDS_LEAVING_A_LOCK if path == "a call that succeeded" else FAILS_LEAVING_A_LOCK
    with (
        pgbouncer(
            behind.admin_url, users=behind.users, default_pool_size=POOL_SIZE, extra=extra
        ) as own,
        server_through(behind, own) as url,
    ):
        plan = {
            "Seattle": [
                *leaving_locks(template, 2, 10, 93_000),
                *([PROBE] * 15 for _ in range(5)),
            ]
        }
        answers = asyncio.run(mixed_load(url, behind, plan))
    probes = [a for a in answers if a.column("pid")]
    assert len(probes) == 75, [a.text for a in answers if a.is_error][:3]
    inherited = [a for a in probes if a.column("advisory_locks") != [0]]
    assert not inherited, (
        f"{len(inherited)} of {len(probes)} later calls of Seattle's ran on a backend that "
        "still held a session advisory lock of an earlier call"
    )


# --- (c) Connections under load: 8 stores and head office. ----------------------------------


@dataclasses.dataclass
class Peaks:
    """The most backends seen at once in the database, per user and in all."""

    per_user: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    total: int = 0


async def watch(
    admin_url: str,
    users: set[str],
    excluded: set[int],
    stop: asyncio.Event,
    peaks: Peaks,
    bouncer: PgBouncer | None = None,
) -> None:
    """Peaks of backends per user. With bouncer: PgBouncer's server connections are no part
    of the count (the module's other servers, still up, may log in through it)."""
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        while not stop.is_set():
            if bouncer is not None:
                excluded = excluded | set(await asyncio.to_thread(server_pids, bouncer))
            cursor = await conn.execute(
                "select pid, usename::text from pg_stat_activity "
                "where datname = current_database() and backend_type = 'client backend' "
                "and pid <> pg_backend_pid()"
            )
            now = collections.Counter(
                user
                for pid, user in await cursor.fetchall()
                if user in users and pid not in excluded
            )
            for user, count in now.items():
                peaks.per_user[user] = max(peaks.per_user[user], count)
            peaks.total = max(peaks.total, sum(now.values()))
            await asyncio.sleep(0.02)


async def load_and_watch(
    urls: Sequence[str], behind: Behind, excluded: set[int], bouncer: PgBouncer | None = None
) -> tuple[list[Answer], Peaks]:
    """Every principal, on every server, sends LOAD_CONCURRENCY calls at once, LOAD_ROUNDS
    times, while the backends of the database (but the excluded pids) are counted."""

    async def principal(url: str, who: str) -> list[Answer]:
        answers: list[Answer] = []
        async with client(url, behind.keys[who]) as session:
            for _ in range(LOAD_ROUNDS):
                answers += await asyncio.gather(
                    *(
                        send(session, who, QUERY, {"postgresql_query": LOAD_QUERY})
                        for _ in range(LOAD_CONCURRENCY)
                    )
                )
        return answers

    peaks = Peaks()
    stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch(behind.admin_url, set(behind.users), excluded, stop, peaks, bouncer)
    )
    try:
        results = await asyncio.gather(*(principal(url, who) for url in urls for who in PRINCIPALS))
    finally:
        stop.set()
        await watcher
    return [answer for answers in results for answer in answers], peaks


def wait_for_direct_backends_to_go(behind: Behind, bouncer: PgBouncer) -> None:
    """Until no backend of ours in the database is anyone's but PgBouncer's."""
    deadline = time.monotonic() + 10
    while True:
        servers = server_pids(bouncer)
        left = {
            pid
            for pid, user in backends(behind.admin_url).items()
            if user in behind.users and pid not in servers
        }
        if not left:
            return
        assert time.monotonic() < deadline, f"backends left by a closed server: {left}"
        time.sleep(0.05)


def assert_all_answered(answers: list[Answer]) -> None:
    failed = [answer for answer in answers if answer.is_error]
    assert not failed, f"{len(failed)} of {len(answers)} calls failed, e.g. {failed[0].text}"


def test_backends_under_load_stay_within_the_pool_settings(behind, bouncer):
    """8 stores and head office call at once, first on one server process connected
    straight to PostgreSQL, then on two server processes through one PgBouncer. The
    backends per role and in all stay within what the settings allow; the figures are
    printed (pytest -s) and in docs/pgbouncer.md."""
    principals = len(PRINCIPALS)
    pool_settings = {
        "principal_pool_max": PRINCIPAL_POOL_MAX,
        "connections_max": principals * PRINCIPAL_POOL_MAX,
        # Calls queue for a connection (in the server's pools, or in PgBouncer's) rather
        # than fail when the machine is slow: the test counts connections, not time.
        "time_budget_seconds": 20.0,
        # A small pool of the server's own, to keep the test's share of the embedded
        # PostgreSQL's max_connections small (other test runs use it too).
        "pool_max_size": 4,
    }
    server_pool_max = pool_settings["pool_max_size"]

    # Straight to PostgreSQL: one server process. The module's PgBouncer closes its idle
    # server connections (from the other tests); any left are no part of either count.
    bouncer.admin_command(f"reconnect {bouncer.dbname}")
    wait_for_direct_backends_to_go(behind, bouncer)
    excluded = set(server_pids(bouncer))
    with server_through(behind, None, **pool_settings) as url:
        direct_answers, direct = asyncio.run(load_and_watch([url], behind, excluded, bouncer))
    # No principal's call went through PgBouncer meanwhile.
    principal_roles = set(behind.roles.values())
    assert (
        not {pid for pid, user in server_pids(bouncer).items() if user in principal_roles}
        - excluded
    )
    assert_all_answered(direct_answers)

    # Through a PgBouncer of the test's own: two server processes.
    wait_for_direct_backends_to_go(behind, bouncer)
    with (
        pgbouncer(
            behind.admin_url, users=behind.users, default_pool_size=POOL_SIZE, query_wait_timeout=15
        ) as own,
        contextlib.ExitStack() as stack,
    ):
        urls = [
            stack.enter_context(server_through(behind, own, **pool_settings))
            for _ in range(SERVER_PROCESSES)
        ]
        bounced_answers, bounced = asyncio.run(load_and_watch(urls, behind, excluded))
        clients = [
            row
            for row in own.show("clients")
            if row["database"] == own.dbname and row["user"] in behind.roles.values()
        ]
        servers = server_pids(own)
    assert_all_answered(bounced_answers)

    roles = behind.roles.values()
    login = behind.settings.login_role
    report = [
        "",
        f"connections under load: {principals} principals x {LOAD_CONCURRENCY} calls at once "
        f"x {LOAD_ROUNDS} rounds per server process; ZAVA_PRINCIPAL_POOL_MAX="
        f"{PRINCIPAL_POOL_MAX}, ZAVA_CONNECTIONS_MAX={principals * PRINCIPAL_POOL_MAX}, "
        f"ZAVA_POOL_MAX={server_pool_max}; PgBouncer default_pool_size={POOL_SIZE}",
        f"{'':<20}{'processes':>10}{'calls':>7}{'per principal':>15}{'server role':>13}"
        f"{'total':>7}{'bound':>7}",
    ]
    for name, processes, answers, peaks, per_role_bound, server_bound in (
        ("direct", 1, direct_answers, direct, PRINCIPAL_POOL_MAX, server_pool_max),
        ("through PgBouncer", SERVER_PROCESSES, bounced_answers, bounced, POOL_SIZE, POOL_SIZE),
    ):
        per_role = [peaks.per_user[role] for role in roles]
        bound = principals * per_role_bound + server_bound
        report.append(
            f"{name:<20}{processes:>10}{len(answers):>7}"
            f"{f'{min(per_role)}-{max(per_role)} (<= {per_role_bound})':>15}"
            f"{f'{peaks.per_user[login]} (<= {server_bound})':>13}{peaks.total:>7}{bound:>7}"
        )
        assert max(per_role) <= per_role_bound, f"{name}: {dict(peaks.per_user)}"
        assert min(per_role) >= 1, f"{name}: a principal's calls never showed: {peaks}"
        assert peaks.per_user[login] <= server_bound, f"{name}: {dict(peaks.per_user)}"
        assert peaks.total <= bound
    principal_servers = [pid for pid, user in servers.items() if user in roles]
    report.append(
        f"PgBouncer after the load: {len(clients)} client connections of principals' roles "
        f"from {SERVER_PROCESSES} server processes, {len(principal_servers)} server "
        f"connections (without PgBouncer: up to {SERVER_PROCESSES} x {principals} x "
        f"{PRINCIPAL_POOL_MAX} = {SERVER_PROCESSES * principals * PRINCIPAL_POOL_MAX} backends)"
    )
    print("\n".join(report))
    # PgBouncer really multiplexed: more clients than server connections it ever opened.
    assert len(clients) > sum(bounced.per_user[role] for role in roles)
