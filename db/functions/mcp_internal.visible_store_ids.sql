-- mcp_internal.visible_store_ids() -> integer[]
--
-- The stores whose rows the current role may see: every store for head office, the
-- manager's own store for a store manager, none for anyone else. Policies call it as a
-- scalar subquery, (select ...), so it runs once per query rather than once per row.
-- SECURITY INVOKER, so mcp.current_principal() sees the caller's role; the stores are
-- read by mcp_internal.store_ids_of, whatever the caller's own view of that table is.
set role {{ owner }};

create or replace function mcp_internal.visible_store_ids()
returns integer[]
language sql
stable
parallel safe
return mcp_internal.store_ids_of(mcp.current_principal());

comment on function mcp_internal.visible_store_ids() is
'Store ids the current role may see: all for head office, one for a store manager, none otherwise.';

grant execute on function mcp_internal.visible_store_ids() to {{ reader }};

reset role;
