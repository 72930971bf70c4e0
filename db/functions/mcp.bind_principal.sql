-- mcp.bind_principal(principal uuid) -> void
--
-- For DBAs: makes the rest of the current transaction see what a principal sees. It turns
-- the transaction READ ONLY and switches to the principal's login role (a tool call's
-- connection logs in as that role and needs no binding); an unknown principal gets the
-- reader role, which sees no rows. Both last until the transaction ends:
--
--   begin;
--   select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');  -- Seattle
--   select mcp.run_query('select count(*) from retail.orders');
--   rollback;
--
-- The administrator that ran `db init` may call it (it is a member of every principal
-- role, WITH SET TRUE and INHERIT FALSE); `set role zava_p_...` does the same by name.
-- It must run inside a transaction block (outside one, it ends with the statement).
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
    perform pg_catalog.set_config('transaction_read_only', 'on', true);
    perform pg_catalog.set_config(
        'role', coalesce(mcp_internal.principal_role(principal), '{{ reader }}'), true
    );
end;
$$;

comment on function mcp.bind_principal(uuid) is
'For DBAs: makes the transaction read-only and switches to the principal''s role until it ends (the reader role for an unknown principal). Call it first, inside BEGIN ... ROLLBACK.';

grant execute on function mcp.bind_principal(uuid) to session_user;  -- noqa: PRS

reset role;
