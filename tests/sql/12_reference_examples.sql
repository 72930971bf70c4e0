-- The reference sample's published example queries (its walkthrough's "time series
-- analysis" and "product performance with categories") run unchanged through
-- mcp.run_query, for head office and for a store manager: they are the compatibility
-- contract for users who paste them. The second joins on product_type_id, the name the
-- reference uses for product_types.type_id.
begin;
select plan(4);

create temporary table reference_examples (name text primary key, query text not null);
insert into reference_examples values
(
    'time series',
    $q$SELECT
    DATE_TRUNC('month', o.order_date) as month,
    SUM(oi.total_amount) as revenue,
    COUNT(DISTINCT o.order_id) as order_count
FROM retail.orders o
JOIN retail.order_items oi ON o.order_id = oi.order_id
WHERE o.order_date >= CURRENT_DATE - INTERVAL '12 months'
GROUP BY DATE_TRUNC('month', o.order_date)
ORDER BY month;$q$
),
(
    'product performance',
    $q$SELECT
    c.category_name,
    pt.type_name,
    COUNT(DISTINCT p.product_id) as product_count,
    SUM(oi.total_amount) as total_revenue,
    AVG(oi.unit_price) as avg_price
FROM retail.products p
JOIN retail.categories c ON p.category_id = c.category_id
JOIN retail.product_types pt ON p.product_type_id = pt.product_type_id
JOIN retail.order_items oi ON p.product_id = oi.product_id
GROUP BY c.category_name, pt.type_name
ORDER BY total_revenue DESC;$q$
);
grant select on reference_examples to public;

-- (Savepoints undo a binding; issued through psql's \gexec, as in 06_run_query.sql.)
select 'savepoint as_head_office' \gexec
select mcp.bind_principal('00000000-0000-0000-0000-000000000000');
select
    ok(
        (mcp.run_query(example.query, 10000)::jsonb ->> 'row_count')::integer > 0,
        'head office: the reference''s ' || example.name || ' example runs and finds sales'
    )
from reference_examples as example
order by example.name;
select 'rollback to savepoint as_head_office' \gexec

select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');  -- Seattle's manager
select
    ok(
        (mcp.run_query(example.query, 10000)::jsonb ->> 'row_count')::integer > 0,
        'a store manager: the reference''s ' || example.name || ' example runs and finds the store''s sales'
    )
from reference_examples as example
order by example.name;

select * from finish();
rollback;
