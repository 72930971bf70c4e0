-- mcp_internal.principal_of_role(role_name name) -> uuid
--
-- The principal a login role acts for, but only for a role the session's own user is a
-- member of (itself, or, for a DBA, a role it may SET ROLE to): null otherwise, so that
-- nobody learns which principal another session's role (visible in pg_stat_activity)
-- serves. mcp.current_principal() calls it with current_user. SECURITY DEFINER: only the
-- owner reads the mapping.
set role {{ owner }};

create or replace function mcp_internal.principal_of_role(role_name name)
returns uuid
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
return (
    select known.rls_user_id
    from mcp_internal.principal_roles as known
    where
        -- principal_of_role.role_name is the function's parameter
        known.role_name = principal_of_role.role_name  -- noqa: RF01
        and pg_has_role(session_user, known.role_name, 'member')
);

comment on function mcp_internal.principal_of_role(name) is
'The principal of a login role the session user is a member of; null for any other role.';

grant execute on function mcp_internal.principal_of_role(name) to {{ reader }}, {{ login }};

reset role;
