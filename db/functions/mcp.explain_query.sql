-- mcp.explain_query(query text, analyze boolean = false) -> jsonb
--
-- The plan of one read-only query, as PostgreSQL's EXPLAIN (FORMAT JSON) gives it (the
-- object with "Plan", and with analyze also the real times and row counts). Same guard
-- as mcp.run_query: the text is first proven to be exactly one SELECT/WITH/VALUES/TABLE
-- query, and only then is EXPLAIN put in front of it. With analyze the query really
-- runs, read-only and as the caller. For anyone but head office the figures that come
-- from other stores' rows are removed (mcp_internal.redact_plan).
set role {{ owner }};

create or replace function mcp.explain_query(query text, "analyze" boolean default false)
returns jsonb
language plpgsql
volatile
as $$
declare
    probe refcursor;
    plan json;
begin
    if "analyze" is null then
        raise exception 'analyze must be true or false, not null'
            using errcode = 'invalid_parameter_value';
    end if;
    probe := mcp_internal.open_guarded_cursor(query, 'mcp.explain_query');
    close probe;
    begin
        execute case when "analyze"
                     then 'explain (analyze, buffers, format json) '
                     else 'explain (format json) ' end || query
        into plan;
    exception when read_only_sql_transaction then
        perform mcp_internal.refuse_write('mcp.explain_query', sqlerrm);
    end;
    -- Head office sees every store, so nothing in the plan is hidden from it.
    if mcp.current_principal() is distinct from mcp_internal.head_office_principal() then
        return mcp_internal.redact_plan((plan -> 0)::jsonb);
    end if;
    return (plan -> 0)::jsonb;
end;
$$;

comment on function mcp.explain_query(text, boolean) is
'EXPLAIN (FORMAT JSON) of exactly one read-only query, optionally with ANALYZE; same guard as mcp.run_query.';

grant execute on function mcp.explain_query(text, boolean) to {{ reader }};

reset role;
