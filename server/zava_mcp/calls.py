"""Tool calls in the database: one read-only transaction bound to the caller.

Every call takes a pooled connection of the login role, opens a transaction, binds the
principal (mcp.bind_principal: read-only, reader role), runs one mcp.* function with
bound parameters, and rolls back. A wall-clock budget covers the whole call; when it
runs out the backend query is really cancelled (a cancel request to the server), so it
holds whatever the query does to its own statement_timeout. Connections go back to the
pool cleaned with DISCARD ALL, so nothing a call did survives into the next one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout


class CallRefused(Exception):
    """A call the database refused or could not finish: the message is safe to show the
    caller (PostgreSQL's own message about the caller's input, never a stack trace)."""


class BudgetExceeded(CallRefused):
    """The call ran past its time budget and was cancelled."""


class UnsafeLoginRole(RuntimeError):
    """The server's login role could bypass row level security."""


class Database:
    """The login role's connection pool and the per-call lifecycle."""

    def __init__(self, url: str, *, budget_seconds: float, min_size: int = 1, max_size: int = 10):
        self.budget_seconds = budget_seconds
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            # No server-side prepared statements: DISCARD ALL below drops them between calls.
            kwargs={"autocommit": True, "prepare_threshold": None},
            configure=_configure,
            reset=_reset,
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
            await conn.execute("select mcp_internal.record_audit(%s)", (Jsonb(entries),))

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
                # When the budget runs out (or the caller goes away) the task is cancelled,
                # and psycopg then sends the server a cancel request for the running query
                # and waits for it to stop before the transaction is rolled back.
                async with asyncio.timeout_at(deadline):
                    return await _bound_call(conn, principal, query, params)
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


async def _bound_call(
    conn: psycopg.AsyncConnection, principal: uuid.UUID, query: LiteralString, params: Sequence[Any]
) -> Any:
    async with conn.transaction(force_rollback=True):
        await conn.execute("select mcp.bind_principal(%s)", (principal,))
        cursor = await conn.execute(sql.SQL(query), params)
        row = await cursor.fetchone()
    return row[0] if row else None


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await register_vector_async(conn)


async def _reset(conn: psycopg.AsyncConnection) -> None:
    # Session state a query could leave behind (advisory locks, settings, prepared
    # statements, listeners) goes.
    await conn.execute("discard all")


def _describe(error: psycopg.Error) -> str:
    diag = error.diag
    message = diag.message_primary or str(error).strip()
    for label, text in (("detail", diag.message_detail), ("hint", diag.message_hint)):
        if text:
            message += f" ({label}: {text})"
    return message
