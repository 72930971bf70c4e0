-- mcp_internal.principal_label(principal uuid) -> text
--
-- A name for a principal that logs may carry: 'head office', the store's name for a
-- store manager, 'unknown' for anyone else. The server's login role, which reads no
-- table, calls it to label its logs; SECURITY DEFINER for that reason.
set role {{ owner }};

create or replace function mcp_internal.principal_label(principal uuid)
returns text
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
return coalesce(
    case when principal = mcp_internal.head_office_principal() then 'head office' end,
    (
        select store.store_name from retail.stores as store
        -- principal is the function's parameter
        where store.rls_user_id = principal  -- noqa: RF03
    ),
    'unknown'
);

comment on function mcp_internal.principal_label(uuid) is
'The name logs give a principal: head office, its store''s name, or unknown.';

grant execute on function mcp_internal.principal_label(uuid) to {{ login }};

reset role;
