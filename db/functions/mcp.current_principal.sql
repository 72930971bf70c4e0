-- mcp.current_principal() -> uuid
--
-- The principal the current role acts for: a tool call's connection logs in as its
-- principal's role, and a DBA's `set role` (or mcp.bind_principal) switches to one. Null
-- for any other role. SECURITY INVOKER, so current_user is the caller's own role; a query
-- cannot change it (a principal role may SET ROLE to nothing, and resetting the role
-- leaves it as itself). PL/pgSQL only because the build creates mcp.* before the
-- mcp_internal.* it calls, and a SQL body must name existing functions.
set role {{ owner }};

create or replace function mcp.current_principal()
returns uuid
language plpgsql
stable
parallel safe
as $$
begin
    return mcp_internal.principal_of_role(current_user);
end;
$$;

comment on function mcp.current_principal() is
'The principal the current role acts for (a principal''s login role), or null for any other role.';

grant execute on function mcp.current_principal() to {{ reader }}, {{ login }};

reset role;
