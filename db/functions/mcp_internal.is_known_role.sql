-- mcp_internal.is_known_role(role_name name) -> boolean
--
-- True when a login role acts for head office or a store's manager; answered only for a
-- role the session's own user is a member of (false otherwise), as
-- mcp_internal.principal_of_role does. SECURITY DEFINER: it reads the mapping, whatever
-- the caller's view of it is. The catalog policies call it (through
-- mcp_internal.principal_is_known) once per table a query reads; looking the role up here
-- rather than through mcp.current_principal() (PL/pgSQL, then principal_of_role) saves a
-- function call: 30 against 35 to 43 us a statement in pgbench.
set role {{ owner }};

create or replace function mcp_internal.is_known_role(role_name name)
returns boolean
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
return exists (
    select
    from mcp_internal.principal_roles as known
    where
        -- is_known_role.role_name is the function's parameter
        known.role_name = is_known_role.role_name  -- noqa: RF01
        and pg_has_role(session_user, known.role_name, 'member')
        and mcp_internal.is_known_principal(known.rls_user_id)
);

comment on function mcp_internal.is_known_role(name) is
'True when a role acts for head office or a store manager, answered only for a role the session user is a member of.';

grant execute on function mcp_internal.is_known_role(name) to {{ reader }};

reset role;
