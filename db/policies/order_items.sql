-- retail.order_items: per store. Head office sees every store's rows, a store manager only
-- their store's order items, anyone else none. mcp_internal.visible_store_ids() is wrapped in a
-- scalar subquery so that it runs once per query, not once per row, and the comparison
-- can use the index on store_id.
-- No second test for the planner here, unlike orders
-- (mcp_internal.visible_store_when_planned): an order line's store is its order's, but
-- PostgreSQL would take the two store filters for independent and estimate a manager's
-- orders joined with their lines at a fifth of the rows; top 10 products last quarter
-- then read all the store's lines and hashed them (16.1 against 3.7 ms in EXPLAIN
-- ANALYZE).
set role {{ owner }};

alter table retail.order_items enable row level security;

drop policy if exists "head office sees every store, a store manager only their own" on retail.order_items;
create policy "head office sees every store, a store manager only their own" on retail.order_items
for select
to {{ reader }}
using (store_id = any((select mcp_internal.visible_store_ids())::integer[]));

-- An order line's store_id is its order's, copied; most queries read lines with their
-- orders, which the orders' policy has already filtered. PostgreSQL takes the two filters
-- for independent and counted this one as keeping 74 % of the lines (it cannot see the
-- store list when it plans, and guesses ten stores' worth): for a store manager it then
-- read all the store's lines from the store index and hashed them against the orders it
-- kept, where looking up those orders' lines took two thirds of the time (top 10 products
-- last quarter through mcp.run_query: 21.3 against 14.1 ms, docs/benchmarks.md section 2).
-- With one distinct value for the planner, each guessed store counts as the most common
-- store's share, and the filter as keeping about nine lines in ten: near the truth for
-- head office, and for a manager's lines read with the manager's orders (all of them are
-- kept). A literal `store_id = 1` is still estimated from the column's most common
-- values. ANALYZE reads the setting, so the column is analysed again when it is new.
do $$
begin
    if not exists (
        select
        from pg_catalog.pg_attribute
        where
            attrelid = 'retail.order_items'::regclass and attname = 'store_id'
            and 'n_distinct=1' = any(attoptions)
    ) then
        alter table retail.order_items alter column store_id set (n_distinct = 1);
        analyze retail.order_items (store_id);
    end if;
end;
$$;

reset role;
