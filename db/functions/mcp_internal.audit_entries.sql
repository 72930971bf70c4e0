-- mcp_internal.audit_entries(caller name, since timestamptz, max_rows integer)
--   -> table (called_at, request_id, rls_user_id, store_name, tool, query_sha256,
--             query_text, duration_ms, row_count, outcome, error_class)
--
-- The audit trail behind mcp.audit_log, newest first, for head office only. SECURITY
-- DEFINER because the reader has no privilege on mcp_internal.audit_log; inside it the
-- current role is the owner, so mcp.audit_log passes its caller's role, and
-- mcp_internal.principal_of_role answers only for a role the session may act as: a
-- store manager naming head office's role gets the same error as one naming its own.
set role {{ owner }};

create or replace function mcp_internal.audit_entries(
    caller name,
    since timestamptz,
    max_rows integer
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
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
    if mcp_internal.principal_of_role(caller) is distinct from mcp_internal.head_office_principal() then
        raise exception 'only head office may read the audit log'
            using errcode = 'insufficient_privilege';
    end if;
    if max_rows is null or max_rows not between 1 and 10000 then
        raise exception 'max_rows must be between 1 and 10000, not %', coalesce(max_rows::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    return query
    select
        entry.called_at,
        entry.request_id,
        entry.rls_user_id,
        coalesce(store.store_name, case when entry.rls_user_id = mcp_internal.head_office_principal() then 'head office' end),
        entry.tool,
        entry.query_sha256,
        entry.query_text,
        entry.duration_ms,
        entry.row_count,
        entry.outcome,
        entry.error_class
    from mcp_internal.audit_log as entry
    left join retail.stores as store on entry.rls_user_id = store.rls_user_id
    where entry.called_at >= coalesce(since, '-infinity')
    order by entry.called_at desc, entry.audit_id desc
    limit max_rows;
end;
$$;

comment on function mcp_internal.audit_entries(name, timestamptz, integer) is
'The audit trail for mcp.audit_log, when caller is head office''s role and the session may act as it; an error otherwise.';

grant execute on function mcp_internal.audit_entries(name, timestamptz, integer) to {{ reader }};

reset role;
