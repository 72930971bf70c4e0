"""Tool calls in the database: one read-only transaction as the caller's own role.

Every principal (head office, each store's manager) has a PostgreSQL login role of its
own (db/principal_roles.sql), and a tool call runs on a connection that logged in as its
principal's role, from a pool kept per principal. So PostgreSQL itself keeps callers
apart: another role's statements read `<insufficient privilege>` in pg_stat_activity, and
cancelling or terminating its backends is refused; a query that resets its role stays
itself. The login is the binding, so nothing is written per call and hot standbys can
serve the calls (read URLs), with the primary as the fallback.

A call is `begin read only`, one mcp.* function with server-side parameters (the
extended protocol, so no value of the caller's is ever part of a statement's text), a
rollback, and the cleaning of what a rollback leaves behind, sent together in one
pipeline (one round trip). A wall-clock budget covers the whole call; when it runs out the
backend query is really cancelled (a cancel request to the server), so it holds whatever
the query does to its own statement_timeout.

The server's own role (the primary URL) checks keys, writes the audit trail and looks up
each principal's role; it never runs a caller's SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from decimal import Decimal
from typing import Any, LiteralString, NamedTuple

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import abc
from psycopg.abc import Buffer, PQGen
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, PipelineStatus, TransactionStatus
from psycopg.pq.abc import PGconn, PGresult
from psycopg.types.json import Jsonb, set_json_loads
from psycopg.waiting import Ready, Wait
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from zava_mcp.config import Settings
from zava_mcp.database import call_conninfo, login_url, principal_password

log = logging.getLogger(__name__)


class CallRefused(Exception):
    """A call the database refused or could not finish: the message is safe to show the
    caller (PostgreSQL's own message about the caller's input, never a stack trace)."""


class InvalidArguments(CallRefused):
    """A tool's arguments do not match its input schema (refused before it runs)."""


class BudgetExceeded(CallRefused):
    """The call ran past its time budget and was cancelled."""


class DatabaseUnavailable(Exception):
    """The server's own pool could not reach the database in time (a restart, an outage,
    every connection busy): the request is answered 503 with Retry-After, never 500."""


class UnsafeLoginRole(RuntimeError):
    """The server's login role could bypass row level security."""


class OutdatedSchema(RuntimeError):
    """The database's functions are older than this server: `zava-mcp db init` was not
    run after an upgrade."""


# What a rollback leaves in a session, undone before the connection serves another call
# (cursors, settings, prepared statements, listeners, session advisory locks, temporary
# objects, sequence state): one function, see db/functions/mcp_internal.clean_session.sql.
CLEAN_SESSION: LiteralString = "select mcp_internal.clean_session()"
# How long the server's own lookups (key checks, role and label lookups, /healthz) wait
# for a connection and an answer: short, so that an outage is reported within seconds and
# never holds a request for a whole time budget.
LOOKUP_SECONDS = 2.0
# How long a call past its budget waits for the server to acknowledge the cancel.
CANCEL_SECONDS = 0.5
# How long a pool keeps retrying a lost connection (with its doubling delay) before it
# gives up and lets the next call start afresh at once. psycopg_pool's default (5 min)
# lets its delay grow to 16 s and more, so that calls would fail for that long after an
# outage has ended; with 0.5 s, they succeed again within about a second.
RECONNECT_SECONDS = 0.5
# Idle connections of a principal are closed after this long, any after the lifetime.
PRINCIPAL_IDLE_SECONDS = 60.0
PRINCIPAL_LIFETIME_SECONDS = 300.0
# How long a call beyond its principal's in-flight limit (ZAVA_PRINCIPAL_CALLS_MAX) waits
# for one of the principal's calls to finish before it is refused: briefly, so that one
# caller's flood is refused rather than queued for a whole time budget.
CALL_SLOT_SECONDS = 1.0
# How long a principal's role is remembered before it is looked up again.
ROLE_TTL_SECONDS = 60.0


class TooManyCalls(CallRefused):
    """The caller already has its limit of calls in flight in this process (running or
    waiting for a connection), and none finished within CALL_SLOT_SECONDS."""


class UnknownPrincipal(CallRefused):
    """The principal has no login role: it is neither head office nor a store's manager."""


class Database:
    """The server's own pool on the primary, and the pools of principals' calls."""

    def __init__(
        self,
        url: str,
        *,
        budget_seconds: float,
        min_size: int = 1,
        max_size: int = 10,
        read_urls: Sequence[str] = (),
        principal_pool_max: int = 5,
        principal_calls_max: int = 10,
        connections_max: int = 50,
    ):
        self.budget_seconds = budget_seconds
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "prepare_threshold": None},
            reconnect_timeout=RECONNECT_SECONDS,
            open=False,
        )
        server_password = psycopg.conninfo.conninfo_to_dict(url).get("password")
        self.calls = PrincipalPools(
            lambda: call_conninfo(url, read_urls),
            server_password=str(server_password) if server_password else None,
            pool_max=principal_pool_max,
            calls_max=principal_calls_max,
            connections_max=connections_max,
        )
        # Principals' roles and labels, looked up again after ROLE_TTL_SECONDS: a role never
        # changes its principal, but a store removed since loses its access.
        self._roles: dict[uuid.UUID, tuple[str, float]] = {}
        self._labels: dict[uuid.UUID, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        server = settings.server
        return cls(
            login_url(settings),
            budget_seconds=server.time_budget_seconds,
            min_size=server.pool_min_size,
            max_size=server.pool_max_size,
            read_urls=server.read_urls,
            principal_pool_max=server.principal_pool_max,
            principal_calls_max=server.principal_calls_max,
            connections_max=server.connections_max,
        )

    async def open(self) -> None:
        """Open the pool and refuse to go on if the login role or any principal's role
        could bypass RLS or act as another; warn if shared_buffers cannot hold what
        semantic search reads."""
        await self.pool.open(wait=True, timeout=30)
        async with self.pool.connection() as conn:
            try:
                cursor = await conn.execute(
                    "select mcp_internal.login_role_problems(), mcp_internal.search_cache_warning()"
                )
            except psycopg.errors.UndefinedFunction as error:
                raise OutdatedSchema(
                    "the database's zava-mcp functions are older than this server "
                    f"({error.diag.message_primary}): run `zava-mcp db init`"
                ) from None
            row = await cursor.fetchone()
        problems = row[0] if row else ["the database returned no answer"]
        if problems:
            raise UnsafeLoginRole(
                "refusing to serve: no role that serves tool calls may bypass row level "
                "security or act as another: " + "; ".join(problems)
            )
        if row and row[1]:
            log.warning("%s", row[1])

    async def close(self) -> None:
        await self.calls.close()
        await self.pool.close()

    async def healthy(self) -> bool:
        try:
            await self.lookup("select 1", ())
            return True
        except DatabaseUnavailable:
            return False

    async def lookup(
        self, query: LiteralString, params: Sequence[Any], seconds: float = LOOKUP_SECONDS
    ) -> Any:
        """The first column of the first row of one of the server's own queries, on its
        pool, within `seconds`. A pooled connection found broken (the database restarted)
        is dropped with the pool's other broken ones and the query tried once more on a
        fresh one, so a restart costs no request an error; a database that cannot answer
        in time raises DatabaseUnavailable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        for attempt in (1, 2):
            try:
                async with asyncio.timeout_at(deadline):
                    async with self.pool.connection(
                        timeout=max(deadline - loop.time(), 0.01)
                    ) as conn:
                        cursor = await conn.execute(query, params)
                        row = await cursor.fetchone()
                return row[0] if row else None
            except (TimeoutError, PoolTimeout):
                raise DatabaseUnavailable(
                    f"the database did not answer within {seconds:g} s"
                ) from None
            except psycopg.OperationalError as error:
                if not connection_failed(error) or attempt == 2:
                    raise DatabaseUnavailable(
                        f"the database is unavailable: {_describe(error)}"
                    ) from None
                await self.pool.check()
        raise AssertionError("unreachable")

    async def authenticate_key(self, key_hash: bytes) -> uuid.UUID | None:
        principal: uuid.UUID | None = await self.lookup(
            "select mcp_internal.authenticate_api_key(%s)", (key_hash,)
        )
        return principal

    async def record_audit(self, entries: list[dict[str, object]], seconds: float) -> None:
        """Append audit records, in one transaction that may last `seconds` at most (a
        locked table or a slow disk makes it fail, to be tried again, not hang)."""
        # One round trip: begin, settings, insert and commit in one pipeline (as a call's
        # statements are sent: a third of the CPU psycopg's pipeline took per batch).
        async with self.pool.connection(timeout=seconds) as conn:
            transformer = Transformer(conn)
            await _in_pipeline(
                conn,
                (
                    _BEGIN,
                    # Committed without waiting for the WAL flush: a crash may lose the last
                    # fraction of a second of records, as a killed server loses its queue,
                    # and calls stop paying for a disk flush each.
                    _statement(
                        transformer,
                        "select set_config('synchronous_commit', 'off', true), "
                        "set_config('statement_timeout', %s, true)",
                        [str(round(seconds * 1000))],
                    ),
                    _statement(
                        transformer, "select mcp_internal.record_audit(%s)", [Jsonb(entries)]
                    ),
                    _COMMIT,
                ),
                recovery=("rollback",),
            )

    def label_of(self, principal: uuid.UUID) -> str:
        """What logs call the principal (head office, a store's name), as looked up with
        its role; never waits: "unknown" before its first call reached the database."""
        return self._labels.get(principal, "unknown")

    def pool_stats(self) -> dict[str, int]:
        """The connections of principals' calls, added up over their pools."""
        return self.calls.stats()

    async def _role_of(self, principal: uuid.UUID) -> str:
        now = asyncio.get_running_loop().time()
        role, looked_up = self._roles.get(principal, (None, 0.0))
        if role is None or now - looked_up > ROLE_TTL_SECONDS:
            role, label = await self.lookup(
                "select array[mcp_internal.principal_role(%s)::text, "
                "mcp_internal.principal_label(%s)]",
                (principal, principal),
            )
            if label:
                self._labels[principal] = label
            if role is None:
                # Not remembered: `db init` gives a store added later its role.
                raise UnknownPrincipal(
                    f"principal {principal} has no access: it is neither head office nor a "
                    "store's manager (after adding a store, run `zava-mcp db init`)"
                )
            self._roles[principal] = (role, now)
        return role

    async def call(self, principal: uuid.UUID, query: LiteralString, params: Sequence[Any]) -> Any:
        """Run one query as the principal and return the first column of its first row."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget_seconds
        role = None
        try:
            async with asyncio.timeout_at(deadline):
                role = await self._role_of(principal)
            # When the budget runs out (or the request is cancelled otherwise, e.g. the
            # server stopping) the task is cancelled, and psycopg then sends the server a
            # cancel request for the running query and waits for it to stop before the
            # transaction is rolled back. A server that does
            # not acknowledge the cancel within CANCEL_SECONDS gets a second cancellation,
            # on which psycopg closes the connection: the caller hears of the budget by
            # then, whatever the server does.
            async with (
                self.calls.connection(role, timeout=deadline - loop.time()) as conn,
                asyncio.timeout_at(deadline + CANCEL_SECONDS),
                asyncio.timeout_at(deadline),
            ):
                return await _call_in_pipeline(conn, query, params)
        except TimeoutError:
            raise BudgetExceeded(
                f"the call took longer than its time budget of {self.budget_seconds:g} s and was "
                "cancelled; ask for less data or a simpler query"
            ) from None
        except DatabaseUnavailable as error:
            raise CallRefused(f"{error}; try again") from None
        except PoolTimeout:
            raise BudgetExceeded(
                f"no database connection was free within {self.budget_seconds:g} s; try again"
            ) from None
        except psycopg.OperationalError as error:
            if connection_failed(error):  # the connection itself, not the statement
                if role:
                    self.calls.check_soon(role)
                raise CallRefused(
                    "the database connection was lost (the server may be restarting or "
                    "failing over to another host); try again"
                ) from None
            raise CallRefused(_describe(error)) from None
        except psycopg.Error as error:
            raise CallRefused(_describe(error)) from None


class PrincipalPools:
    """A connection pool per principal's login role, opened when the principal first
    calls. At most connections_max connections in all: when a new principal needs a pool
    and there is no room, the least recently used pool with no call in flight is closed.
    A principal has at most calls_max calls in flight (pool_max running, the rest waiting
    for a connection): one more waits CALL_SLOT_SECONDS for a call to finish, then is
    refused (TooManyCalls), so that no caller queues work without bound."""

    def __init__(
        self,
        conninfo: Callable[[], str],
        *,
        server_password: str | None,
        pool_max: int,
        connections_max: int,
        calls_max: int,
    ):
        self.conninfo = conninfo  # called for each pool: the standbys' order is drawn anew
        self.server_password = server_password
        self.pool_max = pool_max
        self.calls_max = calls_max
        self.max_pools = max(1, connections_max // pool_max)
        self._pools: OrderedDict[str, AsyncConnectionPool] = OrderedDict()
        self._in_flight: dict[str, int] = {}  # calls holding or awaiting a slot
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._lock = asyncio.Lock()
        # Background work: pools checked after a broken connection, sessions cleaned.
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def connection(
        self, role: str, *, timeout: float
    ) -> AsyncIterator[psycopg.AsyncConnection]:
        pool = await self._pool_for(role)
        slots = self._slots[role]
        try:
            try:
                async with asyncio.timeout(min(CALL_SLOT_SECONDS, max(timeout, 0.001))):
                    await slots.acquire()
            except TimeoutError:
                raise TooManyCalls(
                    f"too many calls in flight for this caller: {self.calls_max} are running "
                    f"or waiting for a connection, and none finished within "
                    f"{CALL_SLOT_SECONDS:g} s; wait for them to finish and try again "
                    "(ZAVA_PRINCIPAL_CALLS_MAX)"
                ) from None
            try:
                conn = await pool.getconn(timeout=max(timeout, 0.001))
                try:
                    yield conn
                except BaseException:
                    # The call ended early (an error, its budget, a cancellation), so its
                    # session may hold what the call did not clean: a task of its own,
                    # which this call's cancellation does not reach, cleans it before the
                    # pool lends it again, or closes it (and the pool replaces it).
                    self._spawn(self._clean_and_return(pool, conn))
                    raise
                # The call rolled back and cleaned its session itself (_call_in_pipeline),
                # so the connection goes back at once. (The pool's own `reset` hook would
                # return every connection through a worker task, a cost on every call.)
                await pool.putconn(conn)
            finally:
                slots.release()
        finally:
            self._in_flight[role] -= 1

    async def _pool_for(self, role: str) -> AsyncConnectionPool:
        async with self._lock:
            pool = self._pools.get(role)
            if pool is None:
                while len(self._pools) >= self.max_pools:
                    idle = next((name for name in self._pools if not self._in_flight[name]), None)
                    if idle is None:
                        raise CallRefused(
                            f"the server has calls of {self.max_pools} callers in flight, as "
                            "many as it may (ZAVA_CONNECTIONS_MAX); try again shortly"
                        )
                    await self._pools.pop(idle).close()
                    del self._in_flight[idle], self._slots[idle]
                pool = AsyncConnectionPool(
                    self.conninfo(),
                    min_size=0,
                    max_size=self.pool_max,
                    max_idle=PRINCIPAL_IDLE_SECONDS,
                    # Connections are renewed now and then, so that calls return to a
                    # standby that was away (libpq picks the host at connect time).
                    max_lifetime=PRINCIPAL_LIFETIME_SECONDS,
                    reconnect_timeout=RECONNECT_SECONDS,
                    kwargs={
                        "user": role,
                        "password": principal_password(self.server_password, role)
                        if self.server_password
                        else None,
                        "autocommit": True,
                        "prepare_threshold": None,
                    },
                    configure=_configure,
                    name=role,
                    open=False,
                )
                await pool.open()
                self._pools[role] = pool
                self._in_flight[role] = 0
                self._slots[role] = asyncio.Semaphore(self.calls_max)
            self._pools.move_to_end(role)
            self._in_flight[role] += 1
            return pool

    def check_soon(self, role: str) -> None:
        """A connection of this role broke: drop its pool's other broken connections now,
        rather than fail a call on each."""
        pool = self._pools.get(role)
        if pool is not None:
            self._spawn(pool.check())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {"pools": len(self._pools)}
        for pool in self._pools.values():
            for key, value in pool.get_stats().items():
                total[key] = total.get(key, 0) + value
        return total

    async def close(self) -> None:
        if self._tasks:  # sessions being cleaned go back to their pools before they close
            await asyncio.wait(set(self._tasks), timeout=LOOKUP_SECONDS + 1)
        async with self._lock:
            for pool in self._pools.values():
                await pool.close()
            self._pools.clear()
            self._in_flight.clear()
            self._slots.clear()

    async def _clean_and_return(
        self, pool: AsyncConnectionPool, conn: psycopg.AsyncConnection
    ) -> None:
        """Roll back and clean the session of a call that ended early, then give the
        connection back to its pool; one that cannot be cleaned within LOOKUP_SECONDS is
        closed instead, and the pool discards it."""
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                status = conn.info.transaction_status
                if status == TransactionStatus.ACTIVE:  # a statement still running
                    await conn.close()
                elif not conn.closed:
                    if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                        await conn.rollback()
                    await conn.execute(CLEAN_SESSION)
        except Exception as error:
            log.warning("closed a connection whose session could not be cleaned: %s", error)
            await conn.close()
        finally:
            await pool.putconn(conn)


async def _call_in_pipeline(
    conn: psycopg.AsyncConnection, query: LiteralString, params: Sequence[Any]
) -> Any:
    """begin read only, the query, rollback and the cleaning, in one round trip. If a
    statement fails, the ones after it do not run: the rollback and the cleaning are sent
    again, together, so that behind a transaction pooler (PgBouncer) they reach the same
    server connection as the call; PrincipalPools cleans the session once more."""
    transformer = Transformer(conn)
    call = _statement(transformer, query, params)
    results = await _in_pipeline(
        conn, (_BEGIN_READ_ONLY, call, _ROLLBACK, _CLEAN), recovery=("rollback", CLEAN_SESSION)
    )
    transformer.set_pgresult(results[1])
    return transformer.load_row(0, tuple)[0] if results[1].ntuples else None


async def _in_pipeline(
    conn: psycopg.AsyncConnection,
    statements: Sequence[_Statement],
    recovery: Sequence[LiteralString],
) -> list[PGresult]:
    """Send the statements in one round trip and return their results, or raise the error
    of the first that failed (those after it do not run) once `recovery` has ended the
    transaction it left open.

    They go to libpq directly, in pipeline mode with one sync and one flush, rather than
    through psycopg's pipeline, which waits on the event loop about twice per statement:
    0.08 against 0.3 ms of the server's CPU per call in a loop (docs/benchmarks.md,
    section 1). The parameters are still psycopg's (its adapters, sent apart from the
    statement's text) and so is the loading of the answers."""
    try:
        async with conn.lock:
            results = await conn.wait(_pipelined(conn.pgconn, statements))
        for result in results:
            if result.status == ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    except BaseException:
        if conn.pgconn.pipeline_status != PipelineStatus.OFF:
            await conn.close()  # stopped halfway: the pool discards it
        elif conn.info.transaction_status in (
            TransactionStatus.INTRANS,
            TransactionStatus.INERROR,
        ):
            with contextlib.suppress(psycopg.Error):  # the statement's own error is the one to tell
                async with conn.pipeline():
                    for statement in recovery:
                        await conn.execute(statement)
        raise
    return results


class _Statement(NamedTuple):
    text: bytes
    values: Sequence[Buffer | None] | None = None
    types: Sequence[int] | None = None
    formats: Sequence[int] | None = None


_BEGIN = _Statement(b"begin")
_BEGIN_READ_ONLY = _Statement(b"begin read only")
_ROLLBACK = _Statement(b"rollback")
_COMMIT = _Statement(b"commit")
_CLEAN = _Statement(CLEAN_SESSION.encode())


def _statement(
    transformer: abc.Transformer, query: LiteralString, params: Sequence[Any]
) -> _Statement:
    """One of our own queries with its parameters, dumped by psycopg's adapters."""
    values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
    return _Statement(_numbered(query), values, transformer.types, transformer.formats)


@functools.lru_cache(maxsize=64)
def _numbered(query: str) -> bytes:
    """One of our own queries with psycopg's %s placeholders as PostgreSQL's $1, $2..."""
    parts = query.split("%s")
    if any("%" in part for part in parts):
        raise ValueError(f"only %s placeholders are supported: {query!r}")
    numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
    return numbered.encode()


def _pipelined(pgconn: PGconn, statements: Sequence[_Statement]) -> PQGen[list[PGresult]]:
    """Send the statements in pipeline mode, then a sync, and read every result up to it:
    one result per statement (an error, or PIPELINE_ABORTED for those after one)."""
    pgconn.enter_pipeline_mode()
    for statement in statements:
        pgconn.send_query_params(
            statement.text,
            statement.values,
            param_types=statement.types,
            param_formats=statement.formats,
        )
    pgconn.pipeline_sync()
    # Read while sending, so that neither side waits on a full buffer.
    while pgconn.flush():
        # psycopg resumes the generator without an event after an interruption (the call
        # cancelled while this is still sending): wait again, as its own generators do.
        while not (ready := (yield Wait.RW)):
            continue
        if ready & Ready.R:
            pgconn.consume_input()
    results: list[PGresult] = []
    between = False
    while True:
        if pgconn.is_busy():
            yield Wait.R
            pgconn.consume_input()
        elif (result := pgconn.get_result()) is None:
            # One None ends each statement's results; two in a row would mean that libpq
            # has nothing queued: wait for the server rather than spin on the event loop.
            if between:
                yield Wait.R
                pgconn.consume_input()
            between = True
        elif result.status == ExecStatus.PIPELINE_SYNC:
            break
        else:
            results.append(result)
            between = False
    pgconn.exit_pipeline_mode()
    return results


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await register_vector_async(conn)
    set_json_loads(_load_json, conn)


def _exact_number(text: str) -> float | Decimal:
    """A JSON number as a float when a double holds it exactly (any with 15 digits or
    fewer), else as a Decimal, which answers carry as a string with every digit."""
    number = float(text)
    if len(text) <= 15 or Decimal(repr(number)) == Decimal(text):
        return number
    return Decimal(text)


# Every integer up to 2**53 in size, and none above, is a double exactly: beyond it a
# JavaScript client (which reads every JSON number as a double) would change the digits.
_DOUBLE_EXACT_INTEGERS = 2**53


def _exact_integer(text: str) -> int | Decimal:
    """A JSON integer as an int when a double holds it exactly, else as a Decimal, which
    answers carry as a string with every digit (a bigint id, a sum of them)."""
    number = int(text)
    if len(text) <= 15 or -_DOUBLE_EXACT_INTEGERS <= number <= _DOUBLE_EXACT_INTEGERS:
        return number
    return Decimal(text)


def _load_json(text: str | bytes) -> Any:
    return json.loads(text, parse_float=_exact_number, parse_int=_exact_integer)


def connection_failed(error: psycopg.Error) -> bool:
    """The connection broke rather than the statement failing: no answer from the server
    at all, a connection exception (class 08, as PgBouncer sends), or the server shutting
    down or starting up (57P01 to 57P03)."""
    state = error.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _describe(error: psycopg.Error) -> str:
    diag = error.diag
    message = diag.message_primary or str(error).strip()
    for label, text in (("detail", diag.message_detail), ("hint", diag.message_hint)):
        if text:
            message += f" ({label}: {text})"
    return message
