-- retail.orders: per store. Head office sees every store's rows, a store manager only
-- their store's orders, anyone else none. mcp_internal.visible_store_ids() is wrapped in a
-- scalar subquery so that it runs once per query, not once per row, and the comparison
-- can use the index on store_id.
set role {{ owner }};

alter table retail.orders enable row level security;

drop policy if exists "head office sees every store, a store manager only their own" on retail.orders;
create policy "head office sees every store, a store manager only their own" on retail.orders
for select
to {{ reader }}
using (store_id = any((select mcp_internal.visible_store_ids())::integer[]));

reset role;
