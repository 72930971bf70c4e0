-- mcp.explain_query: the plan of one read-only query as EXPLAIN (FORMAT JSON) gives it,
-- with real row counts and times when "analyze" is true; row level security shows in a
-- store manager's plan and limits what ANALYZE counts; the same one-query guard as
-- mcp.run_query; a data-modifying CTE is never run.
begin;
select plan(25);

-- The owner's view, computed before any binding makes the transaction read-only.
select store.store_id as seattle_store
from retail.stores as store
where store.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gset
select
    count(*) filter (where sale.store_id = :seattle_store) as seattle_orders,
    count(*) as all_orders
from retail.orders as sale \gset
select count(*) as all_order_items from retail.order_items \gset
select current_setting('max_parallel_workers_per_gather') as default_workers \gset

-- As the unbound superuser, who could write and bypasses row level security.
-- (Savepoints undo a binding or a read-only state; they are issued through psql's \gexec
-- because sqlfluff's postgres dialect cannot parse SAVEPOINT.)
select 'savepoint unbound_owner' \gexec
select is(
    mcp.explain_query('select * from retail.orders') -> 'Plan' -> 'Filter',
    null,
    'the owner''s plan of all orders has no filter: the filter a manager sees comes from row level security'
);
select ok(
    mcp.explain_query('with gone as (delete from retail.order_items returning 1) select count(*) from gone') ? 'Plan',
    'a data-modifying CTE can be explained without analyze'
);
select is(
    (select count(*) from retail.order_items),
    :all_order_items::bigint,
    'explaining a data-modifying CTE without analyze does not run it: every order item is still there'
);
select throws_ok(
    $$select mcp.explain_query('with gone as (delete from retail.order_items returning 1) select count(*) from gone', true)$$,
    '42501',
    'mcp.explain_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'a data-modifying CTE with analyze is refused, even for a role that may write'
);
select is(
    current_setting('transaction_read_only'),
    'on',
    'the transaction is read-only after mcp.explain_query'
);
select 'rollback to savepoint unbound_owner' \gexec

-- As Seattle's manager.
select 'savepoint as_seattle' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');
select ok(
    mcp.explain_query('select * from retail.orders') ? 'Plan',
    'the plan is an object with "Plan"'
);
select ok(
    not mcp.explain_query('select * from retail.orders') ?| array['Execution Time', 'Planning Time'],
    'without analyze the query is not run: the plan has no execution or planning time'
);
select
    ok(
        explained.plan_text like '%store_id = ANY%' and explained.plan_text like '%InitPlan%',
        'Seattle''s plan of all orders shows the row level security filter on store_id and its InitPlan'
    )
from (select mcp.explain_query('select * from retail.orders')::text as plan_text) as explained;
select ok(
    mcp.explain_query('select * from retail.orders', true) ? 'Execution Time',
    'with analyze true (positional) the plan has an execution time'
);
-- (Named in a string: sqlfluff cannot parse a quoted name before =>.)
select results_eq(
    $$select mcp.explain_query('select 1', "analyze" => true) ? 'Execution Time'$$,
    $$values (true)$$,
    'with "analyze" => true (named) the plan has an execution time'
);
select is(
    (mcp.explain_query('select * from retail.orders', true) -> 'Plan' ->> 'Actual Rows')::numeric,
    :seattle_orders::numeric,
    'with analyze the actual rows are the owner''s count of Seattle orders, not all orders'
);
select throws_ok(
    $$select mcp.explain_query('select 1', null)$$,
    '22023',
    'analyze must be true or false, not null',
    'a null analyze is refused'
);
select throws_ok(
    $$select mcp.explain_query('')$$,
    '42601',
    'mcp.explain_query needs a query: the text is empty or holds only comments',
    'an empty text is refused'
);
select throws_ok(
    $$select mcp.explain_query('select 1; select 2')$$,
    '42501',
    'mcp.explain_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'stacked statements are refused'
);
select throws_ok(
    $$select mcp.explain_query('select 1; commit; drop table retail.orders', true)$$,
    '42501',
    'mcp.explain_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'a query stacked with COMMIT and DROP is refused, with or without analyze'
);
select throws_ok(
    $$select mcp.explain_query('explain analyze delete from retail.orders')$$,
    '42501',
    'mcp.explain_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with EXPLAIN',
    'a text that brings its own EXPLAIN is refused'
);
select throws_ok(
    $$select mcp.explain_query('vacuum retail.orders')$$,
    '42501',
    'mcp.explain_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with VACUUM',
    'a utility statement is refused'
);
select throws_ok(
    $$select mcp.explain_query('/* select */ set role postgres')$$,
    '42501',
    'mcp.explain_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with SET',
    'SET behind a comment is refused'
);
select throws_ok(
    $$select mcp.explain_query('delete from retail.orders', true)$$,
    '42501',
    'mcp.explain_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DELETE',
    'DELETE is refused before EXPLAIN ANALYZE could run it'
);
select throws_ok(
    $$select mcp.explain_query('with gone as (delete from retail.orders returning 1) select count(*) from gone', true)$$,
    '42501',
    'mcp.explain_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'a data-modifying CTE with analyze is refused for Seattle''s manager'
);
select is(
    (mcp.run_query('select count(*) from retail.orders')::jsonb -> 'rows' -> 0 ->> 0)::bigint,
    :seattle_orders::bigint,
    'after the refused data-modifying CTE Seattle''s manager still sees every Seattle order'
);
-- Parallel plans made cheap, so that the planner takes them wherever it may.
select
    set_config('parallel_setup_cost', '0', true) as setup_cost,
    set_config('parallel_tuple_cost', '0', true) as tuple_cost,
    set_config('min_parallel_table_scan_size', '0', true) as scan_size;
select ok(
    mcp.explain_query('select count(*) from retail.order_items')::text not like '%Gather%',
    'a store manager''s query is planned without parallel workers, as mcp.run_query runs it'
);
select is(
    current_setting('max_parallel_workers_per_gather'),
    :'default_workers',
    'the session''s max_parallel_workers_per_gather is put back after explaining a store manager''s query'
);
select 'rollback to savepoint as_seattle' \gexec

-- As head office, whose queries may use the parallel workers plain SQL may use.
select 'savepoint as_head_office' \gexec
select mcp.bind_principal('00000000-0000-0000-0000-000000000000');
select
    set_config('parallel_setup_cost', '0', true) as setup_cost,
    set_config('parallel_tuple_cost', '0', true) as tuple_cost,
    set_config('min_parallel_table_scan_size', '0', true) as scan_size;
select ok(
    mcp.explain_query('select count(*) from retail.order_items')::text like '%Gather%',
    'head office''s query may be planned with parallel workers, as mcp.run_query runs it'
);
select 'rollback to savepoint as_head_office' \gexec

select is(
    (select count(*) from retail.orders),
    :all_orders::bigint,
    'the owner still counts every order after the refused data-modifying CTE'
);

select * from finish();
rollback;
