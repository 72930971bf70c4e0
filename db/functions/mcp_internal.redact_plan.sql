-- mcp_internal.redact_plan(plan jsonb) -> jsonb
--
-- An EXPLAIN plan without the figures that come from other stores' rows, for anyone
-- who does not see every store. Planner estimates (rows, width, costs) use statistics of
-- the whole table, so "Plan Rows" for `where store_id = 2` would tell Seattle's manager
-- how many orders Bellevue has; "Rows Removed by Filter" counts the rows row level
-- security hid; a Bitmap Index Scan counts index entries before the policy filters the
-- heap; buffer and I/O counts grow with rows read. All of these go; the plan's shape,
-- conditions and (with ANALYZE) the caller's own row counts and times stay.
set role {{ owner }};

create or replace function mcp_internal.redact_plan(plan jsonb)
returns jsonb
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    field record;
    redacted jsonb;
begin
    if jsonb_typeof(plan) = 'array' then
        select coalesce(jsonb_agg(mcp_internal.redact_plan(element.value) order by element.position), '[]')
        into redacted
        from jsonb_array_elements(plan) with ordinality as element (value, position);
        return redacted;
    end if;
    if jsonb_typeof(plan) is distinct from 'object' then
        return plan;
    end if;
    redacted := '{}';
    for field in select * from jsonb_each(plan) loop
        continue when field.key in ('Plan Rows', 'Plan Width', 'Startup Cost', 'Total Cost', 'Heap Fetches')
            or field.key like 'Rows Removed by %'
            or field.key like '% Blocks'
            or field.key like '%I/O%';
        continue when field.key = 'Actual Rows' and plan ->> 'Node Type' = 'Bitmap Index Scan';
        redacted := redacted || jsonb_build_object(field.key, mcp_internal.redact_plan(field.value));
    end loop;
    return redacted;
end;
$$;

comment on function mcp_internal.redact_plan(jsonb) is
'An EXPLAIN plan without estimates, removed-row counts, bitmap index counts and buffer/I-O figures, which would reveal other stores'' rows.';

grant execute on function mcp_internal.redact_plan(jsonb) to {{ reader }};

reset role;
