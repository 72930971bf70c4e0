-- mcp.audit_log(since timestamptz = now() - 1 day, max_rows integer = 100)
--   -> table (called_at, request_id, rls_user_id, store_name, tool, query_sha256,
--             query_text, duration_ms, row_count, outcome, error_class)
--
-- Head office's view of the audit trail, newest first. Anyone else bound to a principal
-- gets an error: a store manager must not learn what other stores asked. SECURITY
-- DEFINER because the reader has no privilege on mcp_internal.audit_log.
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
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
    if mcp.current_principal() is distinct from mcp_internal.head_office_principal() then
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

comment on function mcp.audit_log(timestamptz, integer) is
'Head office''s view of the audit trail (newest first); an error for anyone else.';

grant execute on function mcp.audit_log(timestamptz, integer) to {{ reader }};

reset role;
