-- mcp.bind_principal(principal uuid) -> void
--
-- Binds the current transaction to a principal and makes it a tool call's transaction:
-- records the principal, turns the transaction READ ONLY and switches to the reader role,
-- all until the transaction ends. The server calls it first in every tool call; a DBA
-- calls it to see what a principal sees:
--
--   begin;
--   select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');  -- Seattle
--   select mcp.run_query('select count(*) from retail.orders');
--   rollback;
--
-- It must run inside a transaction block (outside one, the binding ends with the
-- statement). An unknown principal is accepted and sees no store rows.
set role {{ owner }};

create or replace function mcp.bind_principal(principal uuid)
returns void
language plpgsql
volatile
as $$
begin
    if principal is null then
        raise exception 'mcp.bind_principal needs a principal (a uuid), not null'
            using errcode = 'null_value_not_allowed';
    end if;
    perform mcp_internal.record_binding(principal);
    perform pg_catalog.set_config('transaction_read_only', 'on', true);
    perform pg_catalog.set_config('role', '{{ reader }}', true);
end;
$$;

comment on function mcp.bind_principal(uuid) is
'Binds the current transaction to a principal, makes it read-only and switches to the reader role, until the transaction ends. Call it first, inside BEGIN ... ROLLBACK.';

grant execute on function mcp.bind_principal(uuid) to {{ login }};

reset role;
