-- mcp_internal.principal_role(principal uuid) -> name
--
-- The login role of a principal, or null for an unknown principal (which gets no
-- connection at all): neither head office nor a current store's manager, so a store
-- removed since its role was made gets no connection either. The server's login role asks it once per principal, to connect as
-- that role; mcp.bind_principal asks it for a DBA. Nobody else may call it: the mapping
-- from roles to principals is what keeps sessions anonymous to one another.
set role {{ owner }};

create or replace function mcp_internal.principal_role(principal uuid)
returns name
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
return (
    select known.role_name
    from mcp_internal.principal_roles as known
    where
        -- principal is the function's parameter
        known.rls_user_id = principal  -- noqa: RF03
        and mcp_internal.is_known_principal(known.rls_user_id)
);

comment on function mcp_internal.principal_role(uuid) is
'The login role of a principal (null for an unknown one); for the server''s login role and the administrator.';

grant execute on function mcp_internal.principal_role(uuid) to {{ login }}, session_user;  -- noqa: PRS

reset role;
