-- The audit trail: one row per tool call, written by the server (through
-- mcp_internal.record_audit) after the call, outside the call's own transaction. The
-- reader can neither read nor write it; head office reads it through mcp.audit_log.
set role {{ owner }};

create table if not exists mcp_internal.audit_log (
    audit_id bigint generated always as identity primary key,
    called_at timestamptz not null,
    request_id text not null,
    rls_user_id uuid,
    tool text not null,
    query_sha256 text,
    query_text text,
    duration_ms numeric(12, 2) not null,
    row_count integer,
    outcome text not null check (outcome in ('ok', 'refused', 'timeout', 'unauthenticated', 'error')),
    error_class text
);
comment on table mcp_internal.audit_log is
'Every tool call: who, which tool, what it asked (text and SHA-256), how long, how many rows, and how it ended.';
comment on column mcp_internal.audit_log.audit_id is 'Identifier of the record.';
comment on column mcp_internal.audit_log.called_at is 'When the call started.';
comment on column mcp_internal.audit_log.request_id is 'The request id the server logged with the call.';
comment on column mcp_internal.audit_log.rls_user_id is 'The caller''s principal; null when the caller could not be identified.';
comment on column mcp_internal.audit_log.tool is 'The MCP tool called.';
comment on column mcp_internal.audit_log.query_sha256 is 'SHA-256 (hex) of the query or search text, to group repeated questions.';
comment on column mcp_internal.audit_log.query_text is 'The query or search text (its first 4,000 characters).';
comment on column mcp_internal.audit_log.duration_ms is 'How long the call took, in milliseconds.';
comment on column mcp_internal.audit_log.row_count is 'How many rows (or products, or tables) the call returned.';
comment on column mcp_internal.audit_log.outcome is 'ok, refused (the database refused the input), timeout (past the time budget), unauthenticated, or error.';
comment on column mcp_internal.audit_log.error_class is 'For calls that did not end ok: what kind of error (e.g. CallRefused, BudgetExceeded, EmbeddingError).';

create index if not exists audit_log_called_at_idx on mcp_internal.audit_log (called_at);

reset role;
