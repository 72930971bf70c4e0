-- mcp.list_tables() -> table (table_name, description, estimated_rows, row_level_security)
--
-- The tables the caller may query: every table of schema retail it has SELECT on, with
-- its comment, the planner's row estimate (a table-wide statistic, the same for every
-- caller) and whether row level security filters it.
set role {{ owner }};

create or replace function mcp.list_tables()
returns table (
    table_name text,
    description text,
    estimated_rows bigint,
    row_level_security boolean
)
language sql
stable
set search_path = pg_catalog, pg_temp
begin atomic
    select
        format('%I.%I', namespace.nspname, class.relname) as table_name,
        obj_description(class.oid, 'pg_class') as description,
        case when class.reltuples >= 0 then class.reltuples::bigint end as estimated_rows,
        class.relrowsecurity as row_level_security
    from pg_class as class
    inner join pg_namespace as namespace on class.relnamespace = namespace.oid
    where
        namespace.nspname = 'retail'
        and class.relkind in ('r', 'p', 'v', 'm')
        and has_table_privilege(class.oid, 'select')
    order by class.relname;
end;

comment on function mcp.list_tables() is
'The retail tables the caller may query, with description, estimated row count and whether row level security applies.';

grant execute on function mcp.list_tables() to {{ reader }};

reset role;
