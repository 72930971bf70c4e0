-- retail.customers: per store. Head office sees every store's rows, a store manager only
-- their store's customers, anyone else none. mcp_internal.visible_store_ids() is wrapped in a
-- scalar subquery so that it runs once per query, not once per row, and the comparison
-- can use the index on primary_store_id.
set role {{ owner }};

alter table retail.customers enable row level security;

drop policy if exists "head office sees every store, a store manager only their own" on retail.customers;
create policy "head office sees every store, a store manager only their own" on retail.customers
for select
to {{ reader }}
using (primary_store_id = any((select mcp_internal.visible_store_ids())::integer[]));

reset role;
