-- mcp_internal.is_known_principal(principal uuid) -> boolean
--
-- True for head office and for a store's manager, false otherwise (and for null).
-- SECURITY DEFINER: it reads retail.stores whatever the caller's view of it is.
set role {{ owner }};

create or replace function mcp_internal.is_known_principal(principal uuid)
returns boolean
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
return coalesce(
    -- principal is the function's parameter
    principal = mcp_internal.head_office_principal()  -- noqa: RF03
    or exists (
        select from retail.stores as store
        where store.rls_user_id = principal  -- noqa: RF03
    ),
    false
);

comment on function mcp_internal.is_known_principal(uuid) is
'True for head office and store managers.';

grant execute on function mcp_internal.is_known_principal(uuid) to {{ reader }};

reset role;
