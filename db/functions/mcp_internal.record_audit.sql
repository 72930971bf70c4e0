-- mcp_internal.record_audit(entries jsonb) -> void
--
-- Appends a batch of audit records (a JSON array of objects with the columns of
-- mcp_internal.audit_log). The server's login role calls it in batches, outside tool
-- calls; SECURITY DEFINER because nobody but the owner writes the audit log.
set role {{ owner }};

create or replace function mcp_internal.record_audit(entries jsonb)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
begin atomic
    insert into mcp_internal.audit_log (
        called_at, request_id, rls_user_id, tool, query_sha256, query_text, duration_ms,
        row_count, outcome, error_class
    )
    select
        entry.called_at,
        entry.request_id,
        entry.rls_user_id,
        entry.tool,
        entry.query_sha256,
        left(entry.query_text, 4000) as query_text,
        entry.duration_ms,
        entry.row_count,
        entry.outcome,
        entry.error_class
    -- entries is the function's parameter
    from jsonb_populate_recordset(null::mcp_internal.audit_log, entries) as entry;  -- noqa: RF03
end;

comment on function mcp_internal.record_audit(jsonb) is
'Appends a batch of audit records (a JSON array of objects) to mcp_internal.audit_log.';

grant execute on function mcp_internal.record_audit(jsonb) to {{ login }};

reset role;
