-- mcp.current_principal() -> uuid
--
-- The principal bound to the current transaction by mcp.bind_principal, or null when
-- none is: a binding left by another transaction or another backend never counts.
-- SECURITY DEFINER so that the reader can learn its own binding without any privilege
-- on the bindings table.
set role {{ owner }};

create or replace function mcp.current_principal()
returns uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
return (
    select binding.rls_user_id
    from mcp_internal.principal_bindings as binding
    where
        binding.backend_pid = pg_backend_pid()
        and binding.transaction_id = pg_current_xact_id_if_assigned()
);

comment on function mcp.current_principal() is
'The principal bound to the current transaction, or null when none is bound.';

grant execute on function mcp.current_principal() to {{ reader }}, {{ login }};

reset role;
