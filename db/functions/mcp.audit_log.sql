-- mcp.audit_log(since timestamptz = now() - 1 day, max_rows integer = 100)
--   -> table (called_at, request_id, rls_user_id, store_name, tool, query_sha256,
--             query_text, duration_ms, row_count, outcome, error_class)
--
-- Head office's view of the audit trail, newest first. Anyone else gets an error: a
-- store manager must not learn what other stores asked. SECURITY INVOKER, so that
-- current_user is the caller's role; mcp_internal.audit_entries reads the trail.
set role {{ owner }};

create or replace function mcp.audit_log(
    since timestamptz default now() - interval '1 day',
    max_rows integer default 100
)
returns table (
    called_at timestamptz,
    request_id text,
    rls_user_id uuid,
    store_name text,
    tool text,
    query_sha256 text,
    query_text text,
    duration_ms numeric,
    row_count integer,
    outcome text,
    error_class text
)
language plpgsql
stable
as $$
begin
    return query select * from mcp_internal.audit_entries(current_user, since, max_rows);
end;
$$;

comment on function mcp.audit_log(timestamptz, integer) is
'Head office''s view of the audit trail (newest first); an error for anyone else.';

grant execute on function mcp.audit_log(timestamptz, integer) to {{ reader }};

reset role;
