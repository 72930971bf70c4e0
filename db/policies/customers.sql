-- retail.customers: per store. Head office sees every store's rows, a store manager only
-- their store's customers, anyone else none. mcp_internal.visible_store_ids() is wrapped in a
-- scalar subquery so that it runs once per query, not once per row, and the comparison
-- can use the index on primary_store_id.
-- No second test for the planner here, unlike orders
-- (mcp_internal.visible_store_when_planned): a customer's primary store is, most of the
-- time, the store of their orders, but PostgreSQL would take the two filters for
-- independent and estimate a manager's orders joined with their customers at 7,869 rows
-- where there are 40,029; top 20 customers by spend then looked up each order's lines
-- one by one (84 against 63 ms in EXPLAIN ANALYZE).
set role {{ owner }};

alter table retail.customers enable row level security;

drop policy if exists "head office sees every store, a store manager only their own" on retail.customers;
create policy "head office sees every store, a store manager only their own" on retail.customers
for select
to {{ reader }}
using (primary_store_id = any((select mcp_internal.visible_store_ids())::integer[]));

reset role;
