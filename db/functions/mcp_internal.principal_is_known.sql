-- mcp_internal.principal_is_known() -> boolean
--
-- True when the bound principal is head office or a store's manager. The catalog tables
-- (stores, categories, product types, products, embeddings) are visible to known
-- principals only, so an unbound or unknown caller sees nothing at all.
set role {{ owner }};

create or replace function mcp_internal.principal_is_known()
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
return
mcp.current_principal() = mcp_internal.head_office_principal()
or exists (
    select from retail.stores as store
    where store.rls_user_id = mcp.current_principal()
);

comment on function mcp_internal.principal_is_known() is
'True when the bound principal is head office or a store manager.';

grant execute on function mcp_internal.principal_is_known() to {{ reader }};

reset role;
