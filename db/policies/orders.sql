-- retail.orders: per store. Head office sees every store's rows, a store manager only
-- their store's orders, anyone else none. mcp_internal.visible_store_ids() is wrapped in a
-- scalar subquery so that it runs once per query, not once per row, and the comparison
-- can use the index on store_id.
-- The second test is for the planner: PostgreSQL folds
-- mcp_internal.visible_store_when_planned() into a constant when it plans, `store_id = 1`
-- for a store manager (no test at all for head office), and plans a manager's query as it
-- does one with that filter written in; the first test still decides which rows pass.
set role {{ owner }};

alter table retail.orders enable row level security;

drop policy if exists "head office sees every store, a store manager only their own" on retail.orders;
create policy "head office sees every store, a store manager only their own" on retail.orders
for select
to {{ reader }}
using (
    store_id = any((select mcp_internal.visible_store_ids())::integer[])
    and (mcp_internal.visible_store_when_planned() is null or store_id = mcp_internal.visible_store_when_planned())
);

reset role;
