-- mcp.run_query(query text, max_rows integer = 100, max_bytes integer = 1048576) -> jsonb
--
-- The guarded read-only query runner behind the execute_sales_query tool. It runs
-- exactly one SELECT (or WITH / VALUES / TABLE) query in a read-only transaction and
-- returns
--   {"columns": [{"name": ..., "type": ...}], "rows": [[...], ...],
--    "row_count": n, "truncated": true|false}
-- Rows come from a cursor: at most max_rows + 1 are ever read, and reading stops once
-- the rows' JSON passes max_bytes; truncated says whether rows were left out. Values
-- keep their JSON types (numbers stay numbers, dates are ISO 8601 text). The query runs
-- as the caller, so row level security limits it to the caller's rows. Stacked
-- statements, writes, utility and transaction statements are refused with a clear
-- error. The transaction is left read-only.
set role {{ owner }};

create or replace function mcp.run_query(
    query text,
    max_rows integer default 100,
    max_bytes integer default 1048576
)
returns jsonb
language plpgsql
volatile
-- The cursor is planned for reading all of its rows, as a query is, not for a fast start
-- (PostgreSQL's default for cursors, 10 %): the answer is read whole up to max_rows, and a
-- fast-start plan for an aggregate can cost several times the plan EXPLAIN shows (see the
-- row level security figures in docs/benchmarks.md). A query with LIMIT is still planned
-- for its limit.
set cursor_tuple_fraction = 1
as $$
declare
    rows_cursor refcursor;
    fetched record;
    fetched_json json;
    kept_rows json[] := '{}';
    kept_bytes bigint := 0;
    truncated boolean := false;
    column_types text[];
begin
    if max_rows is null or max_rows not between 1 and 10000 then
        raise exception 'max_rows must be between 1 and 10000, not %', coalesce(max_rows::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    if max_bytes is null or max_bytes not between 1024 and 67108864 then
        raise exception 'max_bytes must be between 1024 and 67108864, not %', coalesce(max_bytes::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;

    rows_cursor := mcp_internal.open_guarded_cursor(query, 'mcp.run_query');

    -- The column types, from the same single statement prepared (not run) under a
    -- name of our own; it is deallocated at once, so nothing stays in the session.
    if exists (select from pg_catalog.pg_prepared_statements where name = 'mcp_run_query_columns') then
        deallocate mcp_run_query_columns;
    end if;
    execute 'prepare mcp_run_query_columns as ' || query;
    select array(select pg_catalog.format_type(result_type, null) from unnest(statement.result_types) as result_type)
    into column_types
    from pg_catalog.pg_prepared_statements as statement
    where statement.name = 'mcp_run_query_columns';
    deallocate mcp_run_query_columns;

    begin
        loop
            fetch rows_cursor into fetched;
            exit when not found;
            if cardinality(kept_rows) = max_rows then
                truncated := true;
                exit;
            end if;
            fetched_json := to_json(fetched);
            kept_bytes := kept_bytes + octet_length(fetched_json::text);
            if kept_bytes > max_bytes then
                truncated := true;
                exit;
            end if;
            kept_rows := kept_rows || fetched_json;
        end loop;
    exception when read_only_sql_transaction then
        perform mcp_internal.refuse_write('mcp.run_query', sqlerrm);
    end;
    close rows_cursor;

    -- After the last fetch, "fetched" holds the column names even when no row came back
    -- (with null values), and json keeps duplicate and unnamed columns in order.
    return jsonb_build_object(
        'columns', (
            select coalesce(jsonb_agg(jsonb_build_object('name', field.key, 'type', column_types[field.position])
                                      order by field.position), '[]')
            from json_each(to_json(fetched)) with ordinality as field (key, value, position)
        ),
        'rows', (
            select coalesce(jsonb_agg(
                (select jsonb_agg(field.value order by field.position)
                 from json_each(kept.row_object) with ordinality as field (key, value, position))
                order by kept.position), '[]')
            from unnest(kept_rows) with ordinality as kept (row_object, position)
        ),
        'row_count', cardinality(kept_rows),
        'truncated', truncated
    );
end;
$$;

comment on function mcp.run_query(text, integer, integer) is
'Runs exactly one read-only query as the caller and returns {columns, rows, row_count, truncated}; at most max_rows rows and about max_bytes bytes.';

grant execute on function mcp.run_query(text, integer, integer) to {{ reader }};

reset role;
