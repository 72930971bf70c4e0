-- retail.categories: part of the catalog, the same for every store, so every known principal (head
-- office or a store manager) sees all of it; an unbound or unknown caller sees nothing.
-- The test is written as "(select ...) is not null", not as the bare boolean, for the
-- planner: it estimates a bare boolean subquery as true for half the rows and plans
-- every join with the catalog for half of it, but "is not null" as true for nearly all
-- rows, which is what a known principal sees. nullif turns false into null, so an
-- unknown principal still sees nothing.
set role {{ owner }};

alter table retail.categories enable row level security;

drop policy if exists "known principals see every row" on retail.categories;
create policy "known principals see every row" on retail.categories
for select
to {{ reader }}
using ((select nullif(mcp_internal.principal_is_known(), false)) is not null);

reset role;
