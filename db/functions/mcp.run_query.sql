-- mcp.run_query(query text, max_rows integer = 100, max_bytes integer = 1048576) -> json
--
-- The guarded read-only query runner behind the execute_sales_query tool. It runs
-- exactly one SELECT (or WITH / VALUES / TABLE) query in a read-only transaction and
-- returns
--   {"columns": [{"name": ..., "type": ...}], "rows": [[...], ...],
--    "row_count": n, "truncated": true|false}
-- At most max_rows + 1 rows are ever read; rows are kept while their JSON (as objects
-- with the column names) stays within max_bytes; truncated says whether rows were left
-- out. Values keep their JSON types (numbers stay numbers, dates are ISO 8601 text). The
-- query runs as the caller, so row level security limits it to the caller's rows.
-- Stacked statements, writes, utility and transaction statements are refused with a
-- clear error. The transaction is left read-only. The answer is json, not jsonb: its rows
-- are made as JSON text, which jsonb would parse once more (about a tenth of the time
-- for 470 rows); cast it (::jsonb) for jsonb's operators.
--
-- How: the guard proves the text is exactly one read-only query: its first word
-- (mcp_internal.check_query_start), then PostgreSQL's parser, which prepares it (not run,
-- not planned) for the column types; a cursor on it under "where false", closed unread,
-- gives the column names. Any text refused there goes through
-- mcp_internal.open_guarded_cursor for its clear error. The query then runs once, as a
-- subquery of one statement that numbers, measures and aggregates its first max_rows + 1
-- rows; that is the only time PostgreSQL plans it. A cursor never gets a parallel plan;
-- that statement does, as the same query sent as plain SQL would. A text proven to be
-- one statement has balanced parentheses, quotes and comments, so it cannot reach out of
-- the subquery it is placed in.
set role {{ owner }};

-- Versions before 2026-12-04 returned jsonb, and CREATE OR REPLACE cannot change the
-- return type.
do $$
begin
    if (
        select function_.prorettype from pg_catalog.pg_proc as function_
        where function_.oid = pg_catalog.to_regprocedure('mcp.run_query(text, integer, integer)')
    ) = 'jsonb'::regtype then
        drop function mcp.run_query(text, integer, integer);
    end if;
end;
$$;

create or replace function mcp.run_query(
    query text,
    max_rows integer default 100,
    max_bytes integer default 1048576
)
returns json
language plpgsql
volatile
as $$
declare
    -- The caller's setting, put back on return after a store manager's 0 (below). Not a
    -- SET clause: "set ... from current" keeps the value current when the function was
    -- created, not the caller's.
    parallel_workers constant text := pg_catalog.current_setting('max_parallel_workers_per_gather');
    body text := mcp_internal.query_without_final_semicolons(query);
    guard refcursor;
    prepared boolean := false;
    shape record;
    column_types text[];
    column_names text[];
    -- What a row's JSON object adds to its values: each column's quoted name and colon.
    names_bytes integer;
    -- Pieces of the statement the query runs in: the columns as q.c1, q.c2, ...; the
    -- least their JSON can weigh; the renaming list (c1, c2, ...).
    row_values text;
    least_bytes text;
    renamed text;
    -- The answer's pieces: the rows as a JSON array, how many were read (at most
    -- max_rows + 1) and then kept, their JSON's size as objects, whether a row's JSON was
    -- not made (it could not fit), whether rows were left out.
    rows_json json;
    rows_read bigint;
    rows_bytes bigint;
    rows_unmade boolean;
    truncated boolean;
begin
    if max_rows is null or max_rows not between 1 and 10000 then
        raise exception 'max_rows must be between 1 and 10000, not %', coalesce(max_rows::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    if max_bytes is null or max_bytes not between 1024 and 67108864 then
        raise exception 'max_bytes must be between 1024 and 67108864, not %', coalesce(max_bytes::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;

    -- The guard, in the cheap way first: PREPARE parses the text alone (exactly one
    -- statement; the column types, below) without planning it, and a cursor on it under
    -- "where false" gives the column names, for which PostgreSQL plans no more than an
    -- empty result. The query is then planned once, in the statement that runs it: opening
    -- a cursor on the text itself planned it a second time (top 10 products: 190 against
    -- 50 us). Anything refused on the way takes the guard of old, which gives its own
    -- clear error. Read-only first: the block's end would give the transaction back the
    -- read-only state it had before.
    perform mcp_internal.check_query_start(body, 'mcp.run_query');
    perform pg_catalog.set_config('transaction_read_only', 'on', true);
    if exists (select from pg_catalog.pg_prepared_statements where name = 'mcp_run_query_columns') then
        deallocate mcp_run_query_columns;
    end if;
    begin
        execute 'prepare mcp_run_query_columns as ' || body;
        prepared := true;
        open guard for execute 'select * from (' || body || e'\n) as q where false';
    exception when others then
        guard := null;
    end;

    if guard is null then
        if prepared then
            deallocate mcp_run_query_columns;  -- a prepared statement outlives the block
            prepared := false;
        end if;
        if body = query then
            guard := mcp_internal.open_guarded_cursor(body, 'mcp.run_query');
        else
            begin
                guard := mcp_internal.open_guarded_cursor(body, 'mcp.run_query');
            exception when syntax_error then
                body := query;  -- the ";" cut off was inside a string: the text as it came
                guard := mcp_internal.open_guarded_cursor(body, 'mcp.run_query');
            end;
        end if;
    end if;

    begin
        -- A fetch of no rows runs nothing (but a data-modifying WITH, which is then refused),
        -- yet gives "shape" the columns' names (with nulls); json keeps duplicate and unnamed
        -- columns in order.
        fetch relative 0 from guard into shape;
        close guard;
        select coalesce(array_agg(field.key order by field.position), '{}'),
               coalesce(sum(octet_length(to_json(field.key)::text) + 1), 0)
        into column_names, names_bytes
        from json_each(to_json(shape)) with ordinality as field (key, value, position);

        -- The column types, from the statement prepared (not run) under a name of our own;
        -- it is deallocated at once, so nothing stays in the session. With them, the pieces
        -- of the statement the query runs in (below).
        if not prepared then
            execute 'prepare mcp_run_query_columns as ' || body;
        end if;
        select types.listed, pieces.row_values, pieces.least_bytes, pieces.renamed
        into column_types, row_values, least_bytes, renamed
        from pg_catalog.pg_prepared_statements as statement
        cross join lateral (
            select array(select pg_catalog.format_type(result_type, null)
                         from unnest(statement.result_types) as result_type) as listed
        ) as types
        cross join lateral (
            select coalesce(string_agg(format('q.c%s', n), ', ' order by n), '') as row_values,
                   coalesce(string_agg(format('coalesce(pg_catalog.pg_column_size(q.c%s), 0) / 16', n), ' + ' order by n), '0')
                       as least_bytes,
                   coalesce('(' || string_agg(format('c%s', n), ', ' order by n) || ')', '') as renamed
            from generate_series(1, cardinality(statement.result_types)) as n
        ) as pieces
        where statement.name = 'mcp_run_query_columns';
        deallocate mcp_run_query_columns;

        -- Parallel workers, as the caller's settings allow, for a caller who sees every
        -- store, whose queries read whole tables as the administrator's do. A store
        -- manager's rows are one store's: the orders and inventory policies tell the planner
        -- so, but those of order lines and customers cannot (db/policies/order_items.sql), and
        -- there PostgreSQL guesses ten stores' worth and picks parallel scans of every line,
        -- two to three times slower than the serial plan (category mix: 38.7 against 19.0 ms).
        if mcp.current_principal() is distinct from mcp_internal.head_office_principal() then
            perform pg_catalog.set_config('max_parallel_workers_per_gather', '0', true);
        end if;

        -- The first max_rows + 1 rows as JSON arrays, numbered in the query's order; the
        -- columns are renamed c1, c2, ... so that duplicate and unnamed ones can be listed.
        -- Rows past max_rows + 1 are never read. A row's JSON is made only while the rows
        -- so far may still fit: a value's JSON text is never shorter than a sixteenth of its
        -- stored size (pg_column_size), so rows past the point where those sixteenths alone
        -- exceed max_bytes cannot be kept, and a query of huge rows costs the reading of
        -- them, not their JSON. The statement also gives the JSON's size as objects (with
        -- the column names) of the first max_rows rows, so that the usual answer, which
        -- fits, needs nothing more. The ORDER BY of a constant sorts nothing, but makes
        -- PostgreSQL plan the query for all its rows, as it plans plain SQL, and not for a
        -- fast start of max_rows + 1 rows: with a LIMIT alone it picked plans for a quick
        -- first row that took twice as long for the whole answer (monthly revenue by store).
        execute format(
            $answer$
            select coalesce(json_agg(made.row_json order by made.position)
                       filter (where made.position <= %1$s), '[]'),
                   count(*),
                   coalesce(sum(octet_length(made.row_json::text) + %3$s)
                       filter (where made.position <= %1$s), 0),
                   coalesce(bool_or(made.row_json is null) filter (where made.position <= %1$s), false)
            from (
                select case when sum(%5$s) over running <= %2$s then pg_catalog.json_build_array(%4$s) end
                           as row_json,
                       row_number() over running as position
                from (select * from (
%6$s
                ) as q %7$s order by null::integer limit %8$s) as q
                window running as (rows unbounded preceding)
            ) as made
            $answer$,
            max_rows, max_bytes, names_bytes, row_values, least_bytes, body, renamed, max_rows + 1)
        into rows_json, rows_read, rows_bytes, rows_unmade;
    exception when read_only_sql_transaction then
        perform mcp_internal.refuse_write('mcp.run_query', sqlerrm);
    end;
    -- (An error rolls the setting back with the transaction or the caller's savepoint.)
    perform pg_catalog.set_config('max_parallel_workers_per_gather', parallel_workers, true);

    if rows_unmade or rows_bytes > max_bytes then
        -- Not all of the first max_rows rows fit: keep those that do, up to the first
        -- that does not (a row whose JSON was not made never fits).
        select coalesce(json_agg(row_json order by position) filter (where kept), '[]'), count(*) filter (where kept)
        into rows_json, rows_read
        from (
            select listed.row_json, listed.position,
                   pg_catalog.json_typeof(listed.row_json) = 'array'
                   and sum(octet_length(listed.row_json::text) + names_bytes) over (order by listed.position rows unbounded preceding)
                       <= max_bytes
                       as kept
            from json_array_elements(rows_json) with ordinality as listed (row_json, position)
        ) as measured;
        truncated := true;
    else
        truncated := rows_read > max_rows;
        rows_read := least(rows_read, max_rows);
    end if;

    return json_build_object('rows', rows_json, 'row_count', rows_read, 'truncated', truncated, 'columns', (
        select coalesce(json_agg(json_build_object('name', column_name, 'type', column_types[position])
                                  order by position), '[]')
        from unnest(column_names) with ordinality as listed (column_name, position)
    ));
end;
$$;

comment on function mcp.run_query(text, integer, integer) is
'Runs exactly one read-only query as the caller and returns {columns, rows, row_count, truncated}; at most max_rows rows and about max_bytes bytes.';

grant execute on function mcp.run_query(text, integer, integer) to {{ reader }};

reset role;
