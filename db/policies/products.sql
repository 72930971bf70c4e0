-- retail.products: part of the catalog, the same for every store, so every known principal (head
-- office or a store manager) sees all of it; an unbound or unknown caller sees nothing.
set role {{ owner }};

alter table retail.products enable row level security;

drop policy if exists "known principals see every row" on retail.products;
create policy "known principals see every row" on retail.products
for select
to {{ reader }}
using ((select mcp_internal.principal_is_known()));

reset role;
