"""The audit trail: every tool call becomes a row of mcp_internal.audit_log.

A call only appends to an in-memory queue; a background task writes the queue in
batches (mcp_internal.record_audit) outside the calls' transactions. The trail fails
closed: when the queue holds ZAVA_AUDIT_QUEUE_MB (the database is down, slow, or the
table locked), new calls are refused (AuditBehind) until it catches up, so no record of a call
that ran is ever dropped and memory stays bounded. Those refusals, and requests refused
before any tool runs (HTTP 401), are counted per minute and written as one record each
(tool `http` or the tool's name, row_count = how many), so that a flood cannot fill the
queue or the table.

A batch refused for what it holds (a value PostgreSQL cannot store, a size limit) is
written record by record, so that one poisoned record holds back no other: a record the
database refuses on its own is logged in full (event `audit_unwritten`) and counted. Any
other failure (the database unreachable or slow, a statement timed out, a privilege
revoked) is retried with a growing delay. At shutdown, whatever cannot be
written in time is logged the same way: a record is never silently lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sys
import uuid
from collections import deque
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import psycopg

from zava_mcp.calls import CallRefused, Database

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BATCH_BYTES = 4 * 1024 * 1024
BATCH_LINGER_SECONDS = 0.05
RETRY_SECONDS = (0.5, 1, 2, 5, 10)
# How long one batch may take in the database (a locked table, a slow disk) before it is
# cancelled and retried.
WRITE_SECONDS = 10.0
# How long shutdown waits for the queue to be written.
STOP_SECONDS = 10.0
# How much of a query's text a record keeps (mcp_internal.record_audit keeps as much).
QUERY_TEXT_CHARS = 4000
# What a queued record costs besides its query text (its other fields, the objects).
RECORD_OVERHEAD_BYTES = 1200


class AuditBehind(CallRefused):
    """The audit trail cannot keep up: calls are refused until it catches up."""


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


def _size(record: AuditRecord) -> int:
    return RECORD_OVERHEAD_BYTES + (sys.getsizeof(record.query_text) if record.query_text else 0)


class AuditTrail:
    def __init__(self, database: Database, max_pending_bytes: int) -> None:
        """max_pending_bytes: the memory queued records may hold before calls are refused."""
        self.database = database
        self.max_pending_bytes = max_pending_bytes
        self.pending: deque[AuditRecord] = deque()
        self.pending_bytes = 0
        self.unwritten = 0  # records the database refused on their own, logged instead
        # Refusals counted per minute: (minute, tool, outcome, error class) -> how many.
        self.counted: collections.Counter[tuple[datetime, str, str, str]] = collections.Counter()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def behind(self) -> bool:
        """True when the queue is full: a new call must be refused (AuditBehind)."""
        return self.pending_bytes >= self.max_pending_bytes

    def refuse_if_behind(self) -> None:
        if self.behind():
            raise AuditBehind(
                f"the audit trail is behind ({len(self.pending)} records not yet written, the "
                "database does not take them fast enough); calls are refused until it "
                "catches up; try again shortly"
            )

    def record(self, record: AuditRecord) -> None:
        """Queue a record; returns at once. A call that ran is always queued: a call is
        refused before it runs when the queue is full, and the refusal is counted."""
        self.pending.append(record)
        self.pending_bytes += _size(record)
        self._idle.clear()
        self._wake.set()

    def count(self, tool: str, outcome: str, error_class: str) -> None:
        """Count a refusal that gets no record of its own (an HTTP 401, a call refused
        while the trail is behind): one record per minute says how many."""
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        self.counted[minute, tool, outcome, error_class] += 1
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever())

    async def flush(self, timeout: float = 10) -> None:
        """Wait until every queued record is written (or the timeout passes); records
        counted in the current minute are written too."""
        self._close_counts(everything=True)
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Write what is queued (for `timeout` at most), then stop; what could not be
        written is logged in full."""
        with contextlib.suppress(TimeoutError):
            await self.flush(timeout)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._close_counts(everything=True)
        if self.pending:
            log.error(
                "audit: %d records not written at shutdown; they follow in the log",
                len(self.pending),
            )
            for record in self.pending:
                self._log_unwritten(record, "not written at shutdown")
            self.pending.clear()
            self.pending_bytes = 0

    def _close_counts(self, everything: bool = False) -> None:
        """Turn the counts of past minutes (all of them, at shutdown) into records."""
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        for key in [key for key in self.counted if everything or key[0] < now]:
            minute, tool, outcome, error_class = key
            number = self.counted.pop(key)
            self.record(
                AuditRecord(
                    called_at=minute,
                    request_id=f"counted-{uuid.uuid4().hex}",
                    rls_user_id=None,
                    tool=tool,
                    query_sha256=None,
                    query_text=f"{number} requests refused ({error_class}) in the minute from "
                    f"{minute.isoformat(timespec='minutes')}",
                    duration_ms=0,
                    row_count=number,
                    outcome=outcome,
                    error_class=error_class,
                )
            )

    def _next_batch(self) -> list[AuditRecord]:
        batch: list[AuditRecord] = []
        size = 0
        for record in self.pending:
            if len(batch) == BATCH_SIZE or (batch and size + _size(record) > BATCH_BYTES):
                break
            batch.append(record)
            size += _size(record)
        return batch

    def _written(self, batch: list[AuditRecord]) -> None:
        for record in batch:
            self.pending.popleft()
            self.pending_bytes -= _size(record)

    async def _write_forever(self) -> None:
        failures = 0
        while True:
            self._close_counts()
            if not self.pending:
                self._idle.set()
                self._wake.clear()
                # Counted refusals are written once their minute is over.
                waiting = 60.5 - datetime.now(UTC).second if self.counted else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), waiting)
                continue
            # Let the records of calls finishing together join one batch.
            await asyncio.sleep(BATCH_LINGER_SECONDS)
            batch = self._next_batch()
            try:
                await self._write(batch)
            except Exception as error:  # never let the writer die
                if _refused_for_its_data(error):
                    # The batch holds what the database cannot take: record by record,
                    # so that one bad record does not hold back every other.
                    log.warning(
                        "audit: a batch was refused (%s); writing it record by record", error
                    )
                    if await self._write_one_by_one(batch):
                        self._written(batch)
                        failures = 0
                        continue
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "audit: writing %d records failed (%s); %d waiting, retrying in %g s",
                    len(batch),
                    error,
                    len(self.pending),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            self._written(batch)

    async def _write(self, batch: list[AuditRecord]) -> None:
        async with asyncio.timeout(WRITE_SECONDS + 1):
            await self.database.record_audit([_as_json(record) for record in batch], WRITE_SECONDS)

    async def _write_one_by_one(self, batch: list[AuditRecord]) -> bool:
        """Write each record alone; False (and the batch kept) if the database went away."""
        for number, record in enumerate(batch):
            try:
                await self._write([record])
            except Exception as error:
                if not _refused_for_its_data(error):
                    # The ones written leave the queue; the rest is tried again later.
                    for _ in range(number):
                        self.pending_bytes -= _size(self.pending.popleft())
                    return False
                self.unwritten += 1
                self._log_unwritten(record, f"refused by the database: {error}")
        return True

    def _log_unwritten(self, record: AuditRecord, reason: str) -> None:
        log.error(
            "audit record %s %s",
            record.request_id,
            reason,
            extra={"fields": {"event": "audit_unwritten", "record": _as_json(record)}},
        )


def _refused_for_its_data(error: BaseException) -> bool:
    """The database refused what a record holds (a value it cannot store, a constraint, a
    size limit), not the write itself: any other failure (unreachable, slow, a privilege
    revoked) is retried, and the trail fails closed meanwhile."""
    return isinstance(error, psycopg.Error) and (error.sqlstate or "")[:2] in ("22", "23", "54")


def _as_json(record: AuditRecord) -> dict[str, object]:
    # Shallow: every field is a plain value (asdict would deep-copy each one).
    entry: dict[str, object] = {field.name: getattr(record, field.name) for field in fields(record)}
    entry["called_at"] = record.called_at.isoformat()
    for key, value in entry.items():
        # PostgreSQL text holds neither NUL nor a lone surrogate (which JSON can carry):
        # a caller must not make a record unwritable.
        if isinstance(value, str):
            entry[key] = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return entry
