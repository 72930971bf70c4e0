"""The audit trail: every tool call becomes a row of mcp_internal.audit_log.

Recording never blocks or fails a call: a call only appends to an in-memory queue, and
a background task writes the queue in batches (mcp_internal.record_audit) outside the
calls' transactions. When the database cannot take them, records wait and are retried;
a batch refused for its data (a value PostgreSQL cannot store) is written record by
record, so one bad record holds back no other. Past MAX_PENDING waiting records the
oldest are dropped; drops are counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, fields
from datetime import datetime

import psycopg

from zava_mcp.calls import Database

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_LINGER_SECONDS = 0.05
MAX_PENDING = 100_000
RETRY_SECONDS = (0.5, 1, 2, 5, 10, 30)
# How much of a query's text a record keeps (mcp_internal.record_audit keeps as much).
QUERY_TEXT_CHARS = 4000
# What PostgreSQL raises for a batch it cannot take because of what is in it (a value it
# cannot store, a jsonb document over its size limit): written record by record instead.
REFUSED_FOR_ITS_DATA = (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded)


@dataclass(frozen=True)
class AuditRecord:
    called_at: datetime
    request_id: str
    rls_user_id: str | None
    tool: str
    query_sha256: str | None
    query_text: str | None
    duration_ms: float
    row_count: int | None
    outcome: str  # ok, refused, timeout, unauthenticated, error
    error_class: str | None


class AuditTrail:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.pending: deque[AuditRecord] = deque()
        self.dropped = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def record(self, record: AuditRecord) -> None:
        """Queue a record; returns at once."""
        if len(self.pending) >= MAX_PENDING:
            self.pending.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error(
                    "audit: %d records dropped, the database does not take them", self.dropped
                )
        self.pending.append(record)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever())

    async def flush(self, timeout: float = 10) -> None:
        """Wait until every queued record is written (or the timeout passes)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self) -> None:
        """Write what is queued (for a few seconds at most), then stop."""
        try:
            await self.flush(timeout=5)
        except TimeoutError:
            log.error("audit: %d records not written at shutdown", len(self.pending))
        if self._task:
            self._task.cancel()

    async def _write_forever(self) -> None:
        failures = 0
        while True:
            if not self.pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            # Let the records of calls finishing together join one batch.
            await asyncio.sleep(BATCH_LINGER_SECONDS)
            batch = [self.pending[i] for i in range(min(BATCH_SIZE, len(self.pending)))]
            try:
                await self.database.record_audit([_as_json(record) for record in batch])
            except REFUSED_FOR_ITS_DATA as error:
                # The batch holds what the database cannot take: write the records one by
                # one, so that one bad record does not hold back every other.
                log.warning("audit: a batch was refused (%s); writing it record by record", error)
                await self._write_one_by_one(batch)
            except Exception as error:  # never let the writer die: wait and try again
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "audit: writing %d records failed (%s); retrying in %g s",
                    len(batch),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            for _ in batch:
                self.pending.popleft()

    async def _write_one_by_one(self, batch: list[AuditRecord]) -> None:
        for record in batch:
            try:
                await self.database.record_audit([_as_json(record)])
            except REFUSED_FOR_ITS_DATA as error:
                self.dropped += 1
                log.error("audit: record %s could not be written: %s", record.request_id, error)


def _as_json(record: AuditRecord) -> dict[str, object]:
    # Shallow: every field is a plain value (asdict would deep-copy each one).
    entry: dict[str, object] = {field.name: getattr(record, field.name) for field in fields(record)}
    entry["called_at"] = record.called_at.isoformat()
    for key, value in entry.items():
        # PostgreSQL text cannot hold NUL: a caller must not make a record unwritable.
        if isinstance(value, str):
            entry[key] = value.replace("\x00", "\ufffd")
    return entry
