-- mcp.explain_query for a store manager leaves out every figure that comes from other
-- stores' rows (planner estimates and costs, rows removed by the policy filter, bitmap
-- index counts, buffers); head office, who sees every store, gets the whole plan.
begin;
select plan(10);

-- mcp_internal.redact_plan on a plan of known shape.
select is(
    mcp_internal.redact_plan(
        '{"Plan": {"Node Type": "Bitmap Heap Scan", "Plan Rows": 5, "Total Cost": 9.5, "Actual Rows": 2,
          "Rows Removed by Filter": 40, "Shared Hit Blocks": 3, "Filter": "(store_id = ANY ($0))",
          "Plans": [{"Node Type": "Bitmap Index Scan", "Actual Rows": 42, "Startup Cost": 0.1}]},
          "Planning": {"Shared Read Blocks": 1}, "Execution Time": 0.2}'::jsonb
    ),
    '{"Plan": {"Node Type": "Bitmap Heap Scan", "Actual Rows": 2, "Filter": "(store_id = ANY ($0))",
      "Plans": [{"Node Type": "Bitmap Index Scan"}]}, "Planning": {}, "Execution Time": 0.2}'::jsonb,
    'redact_plan keeps the shape, filters, own row counts and times, and drops estimates, costs, removed rows, index counts and blocks'
);
select is(
    mcp_internal.redact_plan('[{"Plan": {"Node Type": "Result", "Plan Width": 4}}]'::jsonb),
    '[{"Plan": {"Node Type": "Result"}}]'::jsonb,
    'redact_plan works through arrays'
);

select 'savepoint as_head_office' \gexec
select mcp.bind_principal('00000000-0000-0000-0000-000000000000');
select ok(
    jsonb_path_exists(
        mcp.explain_query('select * from retail.orders where store_id = 2'), 'strict $.**."Plan Rows"'
    ),
    'head office''s plan keeps the planner''s row estimates'
);
select ok(
    jsonb_path_exists(
        mcp.explain_query('select * from retail.orders where store_id = 2'), 'strict $.**."Total Cost"'
    ),
    'head office''s plan keeps the costs'
);
select 'rollback to savepoint as_head_office' \gexec

select 'savepoint as_seattle' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');
select ok(
    not jsonb_path_exists(
        mcp.explain_query('select * from retail.orders where store_id = 2'),
        'strict $.** ? (exists (@."Plan Rows") || exists (@."Total Cost") || exists (@."Startup Cost") || exists (@."Plan Width"))'
    ),
    'Seattle''s plan for Bellevue''s orders carries no estimate that would tell how many Bellevue has'
);
select ok(
    not jsonb_path_exists(
        mcp.explain_query('select * from retail.customers where email like ''%@example.com''', true),
        'strict $.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "^Rows Removed by|Blocks$|I/O")'
    ),
    'Seattle''s analyzed plan carries no count of rows the policy removed, and no buffer or I/O figures'
);
-- Bitmap index scans whatever the visibility map says: once autovacuum has marked the
-- orders all-visible (seconds after the seed), an index-only scan costs less.
select
    set_config('enable_indexonlyscan', 'off', true) as index_only_scans,
    set_config('enable_indexscan', 'off', true) as index_scans;
select ok(
    jsonb_path_exists(
        mcp.explain_query(
            'select * from retail.orders where order_date between ''2024-01-01'' and ''2024-01-31'' or customer_id < 10',
            true
        ),
        'strict $.** ? (@."Node Type" == "Bitmap Index Scan")'
    ),
    'this query is planned with bitmap index scans (so the next assertion is not vacuous)'
);
select ok(
    not jsonb_path_exists(
        mcp.explain_query(
            'select * from retail.orders where order_date between ''2024-01-01'' and ''2024-01-31'' or customer_id < 10',
            true
        ),
        'strict $.** ? (@."Node Type" == "Bitmap Index Scan" && exists (@."Actual Rows"))'
    ),
    'no Bitmap Index Scan in Seattle''s analyzed plan counts the index entries of other stores'
);
select is(
    (
        mcp.explain_query('select * from retail.orders where store_id = 2', true)
        #>> '{Plan,Actual Rows}'
    )::numeric,
    0::numeric,
    'Seattle''s analyzed plan for Bellevue''s orders counts none of them'
);
select 'rollback to savepoint as_seattle' \gexec

select ok(
    jsonb_path_exists(
        mcp_internal.redact_plan('{"Plan": {"Node Type": "Result", "Actual Rows": 1}}'::jsonb),
        'strict $.Plan."Actual Rows"'
    ),
    'the caller''s own row counts are kept'
);

select * from finish();
rollback;
