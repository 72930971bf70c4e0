-- mcp.run_query: the guarded read-only query runner. The shape of its answer
-- ({columns, rows, row_count, truncated}), column names and types, JSON types of values,
-- the row and byte caps (at most max_rows + 1 rows are ever read from the cursor),
-- argument validation, the one-query guard (mcp_internal.open_guarded_cursor and
-- mcp_internal.leading_keyword), the read-only transaction it leaves behind, and row
-- level security applied to the caller's query. The answer is json; the tests cast it to
-- jsonb to compare it.
begin;
select plan(75);

-- The owner's view, computed before any binding makes the transaction read-only.
select store.store_id as seattle_store
from retail.stores as store
where store.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gset
select count(*) as seattle_orders
from retail.orders as sale
where sale.store_id = :seattle_store \gset
select count(*) as all_stores from retail.stores \gset
select current_setting('max_parallel_workers_per_gather') as default_workers \gset

-- mcp_internal.leading_keyword: the first keyword after white space, parentheses and comments.
select is(
    mcp_internal.leading_keyword('SELECT 1'),
    'select',
    'the leading keyword is lower-cased'
);
select is(
    mcp_internal.leading_keyword(e' \t\n  with t as (select 1) select * from t'),
    'with',
    'white space before the first keyword is skipped'
);
select is(
    mcp_internal.leading_keyword('((values (1)))'),
    'values',
    'opening parentheses before the first keyword are skipped'
);
select is(
    mcp_internal.leading_keyword(e'-- a line comment\n-- and another\ntable retail.stores'),
    'table',
    'line comments before the first keyword are skipped'
);
select is(
    mcp_internal.leading_keyword('/* outer /* nested */ still a comment */ delete from retail.orders'),
    'delete',
    'nested block comments are skipped as a whole, as PostgreSQL nests them'
);
select is(
    mcp_internal.leading_keyword('/* /* nested */ select 1 */ update retail.products set cost = 0'),
    'update',
    'a keyword inside a nested block comment is not taken for the first keyword'
);
select is(
    mcp_internal.leading_keyword(e'/* block */ -- line\n ( select 1)'),
    'select',
    'mixed comments and parentheses are all skipped'
);
select is(
    mcp_internal.leading_keyword('/* an unterminated comment select 1'),
    null,
    'an unterminated block comment holds no keyword'
);
select is(
    mcp_internal.leading_keyword('-- select 1 on a line comment with no newline'),
    null,
    'a text that is only a line comment has no keyword'
);
select is(
    mcp_internal.leading_keyword(''),
    null,
    'an empty text has no keyword'
);

-- run_query leaves the transaction read-only, even for a caller that is not bound.
-- (Savepoints undo a binding or a read-only state; they are issued through psql's \gexec
-- because sqlfluff's postgres dialect cannot parse SAVEPOINT.)
select 'savepoint unbound_owner' \gexec
select is(
    mcp.run_query('select current_user')::jsonb -> 'rows',
    '[["postgres"]]'::jsonb,
    'the query runs as the caller (security invoker), here the unbound superuser'
);
select is(
    current_setting('transaction_read_only'),
    'on',
    'the transaction is read-only after mcp.run_query'
);
select throws_ok(
    $$insert into retail.categories (category_name) values ('written after run_query')$$,
    '25006',
    'cannot execute INSERT in a read-only transaction',
    'even the superuser cannot write in the transaction once mcp.run_query has run'
);
select 'rollback to savepoint unbound_owner' \gexec

-- A store manager's query sees only their store's rows.
select 'savepoint as_seattle' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');
select is(
    (mcp.run_query('select count(*) from retail.orders')::jsonb -> 'rows' -> 0 ->> 0)::bigint,
    :seattle_orders::bigint,
    'Seattle''s manager counts exactly the owner''s count of Seattle orders'
);
select is(
    mcp.run_query('select distinct store_id from retail.orders')::jsonb -> 'rows',
    jsonb_build_array(jsonb_build_array(:seattle_store)),
    'Seattle''s manager sees orders of no store but Seattle'
);
select is(
    mcp.run_query('select current_setting(''max_parallel_workers_per_gather'') as workers')::jsonb -> 'rows' -> 0 ->> 0,
    '0',
    'a store manager''s query gets no parallel workers (PostgreSQL misjudges the share a policy keeps)'
);
select is(
    current_setting('max_parallel_workers_per_gather'),
    :'default_workers',
    'the setting is the session''s again once mcp.run_query has returned'
);
select set_config('max_parallel_workers_per_gather', '1', true);
select is(
    mcp.run_query('select current_setting(''max_parallel_workers_per_gather'') as workers')::jsonb -> 'rows' -> 0 ->> 0,
    '0',
    'a store manager gets no parallel workers whatever the session allows'
);
select is(
    current_setting('max_parallel_workers_per_gather'),
    '1',
    'the session''s own setting is put back after a store manager''s query'
);
select 'rollback to savepoint as_seattle' \gexec

-- Everything below runs as head office.
select mcp.bind_principal('00000000-0000-0000-0000-000000000000');
select is(
    mcp.run_query('select current_setting(''max_parallel_workers_per_gather'') as workers')::jsonb -> 'rows' -> 0 ->> 0,
    :'default_workers',
    'head office''s query may use the parallel workers plain SQL may use'
);
select set_config('max_parallel_workers_per_gather', '1', true);
select is(
    mcp.run_query('select current_setting(''max_parallel_workers_per_gather'') as workers')::jsonb -> 'rows' -> 0 ->> 0,
    '1',
    'head office''s query follows the session''s setting, not the one current when the function was made'
);
select set_config('max_parallel_workers_per_gather', :'default_workers', true);

-- The shape of the answer.
select is(
    array(
        select answer_key.name
        from jsonb_object_keys(mcp.run_query('select 1')::jsonb) as answer_key (name)
        order by answer_key.name
    ),
    array['columns', 'row_count', 'rows', 'truncated'],
    'the answer has exactly the keys columns, rows, row_count and truncated'
);
select is(
    mcp.run_query(
        $$select 1 as i, 2::bigint as b, 3.5::numeric as n, 'x'::text as t, date '2024-01-31' as d,
                 true as f, timestamptz '2024-01-31 10:00:00+00' as ts, '{"k": [1, 2]}'::jsonb as j$$
    )::jsonb -> 'columns',
    '[{"name": "i", "type": "integer"}, {"name": "b", "type": "bigint"},
      {"name": "n", "type": "numeric"}, {"name": "t", "type": "text"},
      {"name": "d", "type": "date"}, {"name": "f", "type": "boolean"},
      {"name": "ts", "type": "timestamp with time zone"}, {"name": "j", "type": "jsonb"}]'::jsonb,
    'columns list every column''s name and PostgreSQL type, in the query''s order'
);
select is(
    mcp.run_query($$select 1 as a, 'two' as a, 3, 4.5$$)::jsonb -> 'columns',
    '[{"name": "a", "type": "integer"}, {"name": "a", "type": "text"},
      {"name": "?column?", "type": "integer"}, {"name": "?column?", "type": "numeric"}]'::jsonb,
    'duplicate and unnamed columns are all kept, in order'
);
select is(
    mcp.run_query($$select 1 as a, 'two' as a, 3, 4.5$$)::jsonb -> 'rows',
    '[[1, "two", 3, 4.5]]'::jsonb,
    'the values of duplicate and unnamed columns are all kept, in order'
);

-- Values keep their JSON types.
select is(
    array(
        select jsonb_typeof(field.value)
        from
            jsonb_array_elements(
                mcp.run_query(
                    $$select 1 as i, 2::bigint as b, 3.5::numeric as n, 'x'::text as t, date '2024-01-31' as d,
                             true as f, null::integer as z, array[[1, 2], [3, 4]] as a, '{"k": 1}'::jsonb as j$$
                )::jsonb -> 'rows' -> 0
            ) with ordinality as field (value, position)
        order by field.position
    ),
    array['number', 'number', 'number', 'string', 'string', 'boolean', 'null', 'array', 'object'],
    'values keep their JSON types: numbers, strings for text and dates, booleans, null, arrays and objects'
);
select is(
    mcp.run_query($$select date '2024-01-31', true, null::text$$)::jsonb -> 'rows' -> 0,
    '["2024-01-31", true, null]'::jsonb,
    'a date is its ISO 8601 text, a boolean a JSON boolean and SQL null a JSON null'
);
select is(
    mcp.run_query('select array[[1, 2], [3, 4]]')::jsonb -> 'rows' -> 0 -> 0,
    '[[1, 2], [3, 4]]'::jsonb,
    'a two-dimensional array is a nested JSON array'
);
select is(
    (mcp.run_query('select 12345678901234567890.123::numeric')::jsonb -> 'rows' -> 0 ->> 0)::numeric,
    12345678901234567890.123::numeric,
    'a numeric keeps all its digits'
);
select is(
    (mcp.run_query('select 9007199254740993::bigint')::jsonb -> 'rows' -> 0 ->> 0)::bigint,
    9007199254740993::bigint,
    'a bigint beyond 2^53 keeps its exact value'
);

-- A result with no rows still lists its columns.
select is(
    mcp.run_query($$select 1 as n, 'x'::text as t, date '2024-01-31' as d where false$$)::jsonb -> 'columns',
    '[{"name": "n", "type": "integer"}, {"name": "t", "type": "text"}, {"name": "d", "type": "date"}]'::jsonb,
    'a query that returns no rows still lists its columns and types'
);
select is(
    mcp.run_query($$select 1 as n where false$$)::jsonb - 'columns',
    '{"rows": [], "row_count": 0, "truncated": false}'::jsonb,
    'a query that returns no rows gives an empty rows array, row_count 0 and truncated false'
);

-- max_rows caps the rows and reports truncation.
select is(
    mcp.run_query('select i from generate_series(1, 50) as i', 10)::jsonb - 'columns',
    jsonb_build_object(
        'rows', (select jsonb_agg(jsonb_build_array(i) order by i) from generate_series(1, 10) as i),
        'row_count', 10,
        'truncated', true
    ),
    'with max_rows 10, a 50-row query returns its first 10 rows and truncated true'
);
select is(
    mcp.run_query('select i from generate_series(1, 10) as i', 10)::jsonb - 'rows',
    '{"columns": [{"name": "i", "type": "integer"}], "row_count": 10, "truncated": false}'::jsonb,
    'a query with exactly max_rows rows returns them all and truncated false'
);
select is(
    (mcp.run_query('select i from generate_series(1, 150) as i')::jsonb ->> 'row_count')::integer,
    100,
    'max_rows defaults to 100'
);

-- At most max_rows + 1 rows are read from the cursor: the projection of row n is
-- computed only when row n is fetched, so a division by zero in row n shows that it was read.
select lives_ok(
    $$select mcp.run_query('select i, case when i > 11 then 1 / (i - i) end from generate_series(1, 50) as i', 10)$$,
    'with max_rows 10, row 12 is never read'
);
select throws_ok(
    $$select mcp.run_query('select i, case when i > 10 then 1 / (i - i) end from generate_series(1, 50) as i', 10)$$,
    '22012',
    'division by zero',
    'with max_rows 10, row 11 is read, to learn whether rows were left out'
);
select throws_ok(
    $$select mcp.run_query('select i, case when i > 11 then 1 / (i - i) end from generate_series(1, 50) as i', 11)$$,
    '22012',
    'division by zero',
    'with max_rows 11, row 12 is read: the probe row follows max_rows'
);

-- max_bytes caps the output. Each row {"r":"xxx..."} of repeat('x', 1000) is 1008 bytes,
-- so four fit in 4096 bytes and the fifth does not.
select is(
    mcp.run_query($$select repeat('x', 1000) as r from generate_series(1, 10)$$, 100, 4096)::jsonb - 'rows' - 'columns',
    '{"row_count": 4, "truncated": true}'::jsonb,
    'with max_bytes 4096, only the rows of 1000 bytes that fit are returned, and truncated is true'
);
select is(
    mcp.run_query($$select repeat('x', 1000) as r from generate_series(1, 3)$$, 100, 4096)::jsonb - 'rows' - 'columns',
    '{"row_count": 3, "truncated": false}'::jsonb,
    'rows that fit within max_bytes are all returned, with truncated false'
);
select is(
    mcp.run_query($$select repeat('x', 2000) as r$$, 100, 1024)::jsonb,
    '{"columns": [{"name": "r", "type": "text"}], "rows": [], "row_count": 0, "truncated": true}'::jsonb,
    'a first row larger than max_bytes gives no rows, truncated true, and still the columns'
);

-- Kept rows are the first ones, up to the first that does not fit: a smaller row after it
-- is not kept. A row past max_rows, however large, only makes the answer truncated: the
-- rows before it are all kept.
select is(
    mcp.run_query($$select repeat('x', n) as r from unnest(array[1000, 3000, 10]) as n$$, 100, 2048)::jsonb
    - 'columns',
    jsonb_build_object(
        'rows', jsonb_build_array(jsonb_build_array(repeat('x', 1000))),
        'row_count', 1, 'truncated', true
    ),
    'rows after the first that does not fit in max_bytes are left out, however small'
);
select is(
    mcp.run_query($$select repeat('x', n) as r from unnest(array[1000, 900, 5000]) as n$$, 2, 2048)::jsonb
    - 'rows' - 'columns',
    '{"row_count": 2, "truncated": true}'::jsonb,
    'with max_rows 2, a third row too large for max_bytes only makes the answer truncated'
);

-- Argument validation.
select throws_ok(
    $$select mcp.run_query('select 1', 0)$$,
    '22023',
    'max_rows must be between 1 and 10000, not 0',
    'max_rows 0 is refused'
);
select throws_ok(
    $$select mcp.run_query('select 1', 10001)$$,
    '22023',
    'max_rows must be between 1 and 10000, not 10001',
    'max_rows above 10000 is refused'
);
select throws_ok(
    $$select mcp.run_query('select 1', null)$$,
    '22023',
    'max_rows must be between 1 and 10000, not null',
    'a null max_rows is refused'
);
select throws_ok(
    $$select mcp.run_query('select 1', 10, 1023)$$,
    '22023',
    'max_bytes must be between 1024 and 67108864, not 1023',
    'max_bytes below 1024 is refused'
);
select throws_ok(
    $$select mcp.run_query('select 1', 10, null)$$,
    '22023',
    'max_bytes must be between 1024 and 67108864, not null',
    'a null max_bytes is refused'
);

-- The accepted leading forms.
select is(
    mcp.run_query(
        e'-- a line comment\n/* a block /* nested */ comment */ with t as (select 1 as n) select n from t'
    )::jsonb -> 'rows',
    '[[1]]'::jsonb,
    'a WITH query after line and nested block comments runs'
);
select is(
    mcp.run_query('values (1, 2), (3, 4)')::jsonb -> 'rows',
    '[[1, 2], [3, 4]]'::jsonb,
    'a VALUES query runs'
);
select is(
    (mcp.run_query('table retail.stores')::jsonb ->> 'row_count')::bigint,
    :all_stores::bigint,
    'a TABLE query runs and head office sees every store'
);
select is(
    mcp.run_query('(select 1) union all (select 2)')::jsonb -> 'rows',
    '[[1], [2]]'::jsonb,
    'a query that starts with a parenthesis runs'
);
select is(
    mcp.run_query('SELECT 1;')::jsonb -> 'rows',
    '[[1]]'::jsonb,
    'an upper-case query with a trailing semicolon runs'
);

-- The refused texts.
select throws_ok(
    $$select mcp.run_query('')$$,
    '42601',
    'mcp.run_query needs a query: the text is empty or holds only comments',
    'an empty text is refused'
);
select throws_ok(
    $$select mcp.run_query(e'-- nothing here\n/* nor /* here */ */')$$,
    '42601',
    'mcp.run_query needs a query: the text is empty or holds only comments',
    'a text of comments only is refused'
);
select throws_ok(
    $$select mcp.run_query('selec store_id from retail.stores')$$,
    '42601',
    'mcp.run_query needs a query starting with SELECT, WITH, VALUES or TABLE; this text starts with SELEC, which is no SQL command (a typo?)',
    'a misspelt SELECT is called a typo, not a write'
);
select throws_ok(
    $$select mcp.run_query('select * from orders')$$,
    '42P01',
    'relation "orders" does not exist',
    'an unknown table keeps PostgreSQL''s message (the hint lists the tables)'
);
select throws_ok(
    $$select mcp.run_query('explain select 1')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with EXPLAIN',
    'EXPLAIN is refused (mcp.explain_query is the tool for plans)'
);
select throws_ok(
    $$select mcp.run_query('show all')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with SHOW',
    'SHOW is refused'
);
select throws_ok(
    $$select mcp.run_query('/* harmless */ set role postgres')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with SET',
    'SET ROLE behind a comment is refused'
);
select throws_ok(
    $$select mcp.run_query('delete from retail.orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DELETE',
    'DELETE is refused'
);
select throws_ok(
    $$select mcp.run_query('insert into retail.categories (category_name) values (''x'')')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with INSERT',
    'INSERT is refused'
);
select throws_ok(
    $$select mcp.run_query('(update retail.products set cost = 0)')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with UPDATE',
    'UPDATE in parentheses is refused'
);
select throws_ok(
    $$select mcp.run_query('select 1; select 2')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'stacked statements are refused'
);
select throws_ok(
    $$select mcp.run_query('select 1; commit; drop table retail.orders')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'a query stacked with COMMIT and DROP is refused'
);
select throws_ok(
    $$select mcp.run_query('select 1 as n into temporary table kept')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'SELECT INTO, which creates a table, is refused'
);
select throws_ok(
    $$select mcp.run_query('with gone as (delete from retail.orders returning 1) select count(*) from gone')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'a data-modifying CTE is refused because the transaction is read-only'
);
select is(
    (
        select count(*) from pg_catalog.pg_prepared_statements
        where name = 'mcp_run_query_columns'
    ),
    0::bigint,
    'a refused text leaves no prepared statement behind (the data-modifying CTE above was prepared before its refusal)'
);

-- A query is run as the subquery of one statement: a final semicolon, and comments after
-- it, are cut off first; a semicolon in a string is not.
select is(
    mcp.run_query(e'select 1 as n; -- done\n/* with ; inside */;\n')::jsonb -> 'rows',
    '[[1]]'::jsonb,
    'a final semicolon followed by comments and more semicolons is accepted'
);
select is(
    mcp.run_query($$select '; --' as s$$)::jsonb -> 'rows',
    '[["; --"]]'::jsonb,
    'a semicolon inside a string that looks like the start of a comment is kept'
);
select is(
    mcp.run_query($$select '; --' as s$$)::jsonb -> 'columns',
    '[{"name": "s", "type": "text"}]'::jsonb,
    'the text cut at that semicolon does not parse, and the text as it came gives the column names and types'
);
select is(
    mcp.run_query('select 1 as n -- a comment; without newline')::jsonb -> 'rows',
    '[[1]]'::jsonb,
    'a line comment at the very end cannot swallow what the query is placed in'
);
select throws_ok(
    $$select mcp.run_query('select 1) as q, (select 2')$$,
    '42601',
    null,
    'a text that would close the subquery it is placed in is refused: alone, it does not parse'
);
select is(
    mcp_internal.query_without_final_semicolons('select 1; select 2'),
    'select 1; select 2',
    'a semicolon followed by a statement is not cut (the guard refuses the stack)'
);

-- Huge rows: rows are kept while their JSON fits in max_bytes, and the answer says more exist.
select results_eq(
    $$select (answer ->> 'row_count')::integer, (answer ->> 'truncated')::boolean,
             octet_length(answer -> 'rows' -> 0 ->> 0)
      from mcp.run_query('select repeat(''x'', 200000) as filler from generate_series(1, 200)', 100, 300000)
          as answer$$,
    $$values (1, true, 200000)$$,
    'of 200 rows of 200,000 characters, the one that fits in 300,000 bytes is kept and the answer is truncated'
);

select * from finish();
rollback;
