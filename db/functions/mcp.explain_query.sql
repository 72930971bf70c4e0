-- mcp.explain_query(query text, analyze boolean = false) -> jsonb
--
-- The plan of one read-only query, as PostgreSQL's EXPLAIN (FORMAT JSON) gives it (the
-- object with "Plan", and with analyze also the real times and row counts). Same guard
-- as mcp.run_query: the text is first proven to be exactly one SELECT/WITH/VALUES/TABLE
-- query, and only then is EXPLAIN put in front of it. With analyze the query really
-- runs, read-only and as the caller. For anyone but head office the figures that come
-- from other stores' rows are removed (mcp_internal.redact_plan). The query is planned
-- with the parallel workers mcp.run_query gives it (none for anyone but head office; see
-- there), so that the plan shown is the plan run_query runs.
set role {{ owner }};

create or replace function mcp.explain_query(query text, "analyze" boolean default false)
returns jsonb
language plpgsql
volatile
as $$
declare
    -- The caller's setting, put back on return (not a SET clause, as in mcp.run_query).
    parallel_workers constant text := pg_catalog.current_setting('max_parallel_workers_per_gather');
    head_office constant boolean := mcp.current_principal() is not distinct from mcp_internal.head_office_principal();
    probe refcursor;
    plan json;
begin
    if "analyze" is null then
        raise exception 'analyze must be true or false, not null'
            using errcode = 'invalid_parameter_value';
    end if;
    probe := mcp_internal.open_guarded_cursor(query, 'mcp.explain_query');
    close probe;
    if not head_office then
        perform pg_catalog.set_config('max_parallel_workers_per_gather', '0', true);
    end if;
    begin
        execute case when "analyze"
                     then 'explain (analyze, buffers, format json) '
                     else 'explain (format json) ' end || query
        into plan;
    exception when read_only_sql_transaction then
        perform mcp_internal.refuse_write('mcp.explain_query', sqlerrm);
    end;
    perform pg_catalog.set_config('max_parallel_workers_per_gather', parallel_workers, true);
    -- Head office sees every store, so nothing in the plan is hidden from it.
    if not head_office then
        return mcp_internal.redact_plan((plan -> 0)::jsonb);
    end if;
    return (plan -> 0)::jsonb;
end;
$$;

comment on function mcp.explain_query(text, boolean) is
'EXPLAIN (FORMAT JSON) of exactly one read-only query, optionally with ANALYZE; same guard as mcp.run_query.';

grant execute on function mcp.explain_query(text, boolean) to {{ reader }};

reset role;
