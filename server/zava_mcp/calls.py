"""Tool calls in the database: one read-only transaction bound to the caller.

Every call takes a pooled connection of the login role, opens a transaction, binds the
principal (mcp.bind_principal: read-only, reader role), runs one mcp.* function with
bound parameters, and rolls back. A wall-clock budget covers the whole call; when it
runs out the backend query is really cancelled (a cancel request to the server), so it
holds whatever the query does to its own statement_timeout. A connection that ran a call
goes back to the pool cleaned of what a rollback leaves behind, so nothing a call did
survives into the next one.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout


class CallRefused(Exception):
    """A call the database refused or could not finish: the message is safe to show the
    caller (PostgreSQL's own message about the caller's input, never a stack trace)."""


class BudgetExceeded(CallRefused):
    """The call ran past its time budget and was cancelled."""


class UnsafeLoginRole(RuntimeError):
    """The server's login role could bypass row level security."""


# What a rollback leaves in a session, undone before the connection serves another call:
# cursors, settings (a rollback already reverts those a call changed), prepared statements,
# listeners, session advisory locks, temporary objects, sequence state. Not DISCARD ALL:
# its DISCARD PLANS would make every later call plan each statement of the mcp functions
# again, for no safety (their plans are no state of the caller's), which costs more than
# the call itself.
CLEAN_SESSION = (
    "close all; reset all; deallocate all; unlisten *; select pg_advisory_unlock_all(); "
    "discard temp; discard sequences"
)


class Database:
    """The login role's connection pool and the per-call lifecycle."""

    def __init__(self, url: str, *, budget_seconds: float, min_size: int = 1, max_size: int = 10):
        self.budget_seconds = budget_seconds
        # Connections that ran a caller's call since they were last cleaned; the others
        # (key checks, audit batches, health checks) ran only the server's own queries.
        self._dirty: weakref.WeakSet[psycopg.AsyncConnection] = weakref.WeakSet()
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            # No server-side prepared statements: cleaning a session deallocates them.
            kwargs={"autocommit": True, "prepare_threshold": None},
            configure=_configure,
            reset=self._clean,
            open=False,
        )

    async def open(self) -> None:
        """Open the pool and refuse to go on if the login role could bypass RLS."""
        await self.pool.open(wait=True, timeout=30)
        async with self.pool.connection() as conn:
            cursor = await conn.execute("select mcp_internal.login_role_problems()")
            row = await cursor.fetchone()
        problems = row[0] if row else ["the database returned no answer"]
        if problems:
            raise UnsafeLoginRole(
                "refusing to serve: the login role must not bypass row level security: "
                + "; ".join(problems)
            )

    async def close(self) -> None:
        await self.pool.close()

    async def healthy(self) -> bool:
        try:
            async with self.pool.connection(timeout=5) as conn:
                await conn.execute("select 1")
            return True
        except (psycopg.Error, PoolTimeout):
            return False

    async def authenticate_key(self, key_hash: bytes) -> uuid.UUID | None:
        async with self.pool.connection(timeout=self.budget_seconds) as conn:
            cursor = await conn.execute("select mcp_internal.authenticate_api_key(%s)", (key_hash,))
            row = await cursor.fetchone()
        return row[0] if row else None

    async def record_audit(self, entries: list[dict[str, object]]) -> None:
        async with self.pool.connection(timeout=self.budget_seconds) as conn:
            # Committed without waiting for the WAL flush: a crash may lose the last
            # fraction of a second of records, as a killed server loses its queue, and
            # calls stop paying for a disk flush each.
            await conn.execute(
                "select set_config('synchronous_commit', 'off', true), "
                "mcp_internal.record_audit(%s)",
                (Jsonb(entries),),
            )

    async def principal_label(self, principal: uuid.UUID) -> str:
        """What logs call the principal: head office, a store's name, or unknown."""
        async with self.pool.connection(timeout=self.budget_seconds) as conn:
            cursor = await conn.execute("select mcp_internal.principal_label(%s)", (principal,))
            row = await cursor.fetchone()
        return row[0] if row else "unknown"

    def pool_stats(self) -> dict[str, int]:
        return self.pool.get_stats()

    async def call(self, principal: uuid.UUID, query: LiteralString, params: Sequence[Any]) -> Any:
        """Run one query as the principal and return the first column of its first row."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget_seconds
        try:
            async with self.pool.connection(timeout=self.budget_seconds) as conn:
                self._dirty.add(conn)
                # When the budget runs out (or the caller goes away) the task is cancelled,
                # and psycopg then sends the server a cancel request for the running query
                # and waits for it to stop before the transaction is rolled back.
                async with asyncio.timeout_at(deadline):
                    answer = await _bound_call(conn, principal, query, params)
                # The call cleaned its session itself.
                self._dirty.discard(conn)
                return answer
        except TimeoutError:
            raise BudgetExceeded(
                f"the call took longer than its time budget of {self.budget_seconds:g} s and was "
                "cancelled; ask for less data or a simpler query"
            ) from None
        except PoolTimeout:
            raise BudgetExceeded(
                f"no database connection was free within {self.budget_seconds:g} s; try again"
            ) from None
        except psycopg.Error as error:
            raise CallRefused(_describe(error)) from None

    async def _clean(self, conn: psycopg.AsyncConnection) -> None:
        """The pool's reset: clean a connection whose call ended early (an error, the
        budget) before it serves again."""
        if conn in self._dirty:
            await conn.execute(CLEAN_SESSION)
            self._dirty.discard(conn)


async def _bound_call(
    conn: psycopg.AsyncConnection, principal: uuid.UUID, query: LiteralString, params: Sequence[Any]
) -> Any:
    """The whole call in one round trip: begin, bind, the query, rollback and the cleaning,
    as one simple-protocol string. The values are quoted by the driver (client-side
    binding) and PostgreSQL parses the whole string before it runs any of it, so nothing
    in a value can change how the rest is read. If a statement fails, the ones after it do
    not run: the transaction is rolled back here and the pool cleans the session."""
    cursor = psycopg.AsyncClientCursor(conn)
    try:
        await cursor.execute(
            sql.SQL("begin; select mcp.bind_principal(%s); ")
            + sql.SQL(query)
            + sql.SQL("; rollback; " + CLEAN_SESSION),
            (principal, *params),
        )
    except BaseException:
        if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            await conn.rollback()
        raise
    # Results come one per statement: begin, bind, then the query's.
    cursor.nextset()
    cursor.nextset()
    row = await cursor.fetchone()
    return row[0] if row else None


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await register_vector_async(conn)


def _describe(error: psycopg.Error) -> str:
    diag = error.diag
    message = diag.message_primary or str(error).strip()
    for label, text in (("detail", diag.message_detail), ("hint", diag.message_hint)):
        if text:
            message += f" ({label}: {text})"
    return message
