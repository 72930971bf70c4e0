-- mcp_internal.record_binding(principal uuid) -> void
--
-- Writes the binding row for this backend and transaction. SECURITY DEFINER because only
-- the owner may write mcp_internal.principal_bindings; only the login role (through
-- mcp.bind_principal) may call it, and in a read-only transaction the write fails, so a
-- query cannot rebind itself even after resetting its role to the login role.
set role {{ owner }};

create or replace function mcp_internal.record_binding(principal uuid)
returns void
language sql
volatile
security definer
set search_path = pg_catalog, pg_temp
begin atomic
    insert into mcp_internal.principal_bindings (backend_pid, transaction_id, rls_user_id, bound_at)
    values (pg_backend_pid(), pg_current_xact_id(), principal, now())
    on conflict (backend_pid) do update
        set
            transaction_id = excluded.transaction_id,
            rls_user_id = excluded.rls_user_id,
            bound_at = excluded.bound_at;
end;

comment on function mcp_internal.record_binding(uuid) is
'Records the principal of the current transaction (called by mcp.bind_principal).';

grant execute on function mcp_internal.record_binding(uuid) to {{ login }};

reset role;
