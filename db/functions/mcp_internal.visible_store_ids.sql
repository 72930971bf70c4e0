-- mcp_internal.visible_store_ids() -> integer[]
--
-- The stores whose rows the current role may see: every store for head office (padded to
-- 27 ids, see mcp_internal.store_ids_of_role), the manager's own store for a store
-- manager, none for anyone else. Policies call it as a scalar subquery, (select ...), so
-- it runs once per query rather than once per row. SECURITY INVOKER, so current_user is
-- the caller's role; a single expression, so PostgreSQL inlines it into the policies and
-- the subquery makes one function call.
set role {{ owner }};

create or replace function mcp_internal.visible_store_ids()
returns integer[]
language sql
stable
parallel safe
return mcp_internal.store_ids_of_role(current_user);

comment on function mcp_internal.visible_store_ids() is
'Store ids the current role may see: all for head office (padded to 27 ids with copies of the first), one for a store manager, none otherwise.';

grant execute on function mcp_internal.visible_store_ids() to {{ reader }};

-- Versions before 2026-12-04 read the stores through store_ids_of(uuid), which
-- store_ids_of_role replaces; only this function used it, so it goes once this no longer does.
drop function if exists mcp_internal.store_ids_of(uuid);

reset role;
