-- mcp_internal.store_ids_of(principal uuid) -> integer[]
--
-- The stores a principal may see: every store for head office, the manager's own store
-- for a store manager, none for anyone else (or null). SECURITY DEFINER: it reads
-- retail.stores whatever the caller's view of it is. It tells nothing retail.stores does
-- not already show every known principal (each store's rls_user_id).
set role {{ owner }};

create or replace function mcp_internal.store_ids_of(principal uuid)
returns integer[]
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
return (
    select coalesce(array_agg(store.store_id order by store.store_id), '{}')
    from retail.stores as store
    -- principal is the function's parameter
    where principal = mcp_internal.head_office_principal() or store.rls_user_id = principal  -- noqa: RF03
);

comment on function mcp_internal.store_ids_of(uuid) is
'Store ids a principal may see: all for head office, one for a store manager, none otherwise.';

grant execute on function mcp_internal.store_ids_of(uuid) to {{ reader }};

reset role;
