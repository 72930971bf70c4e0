-- mcp_internal.visible_store_ids() -> integer[]
--
-- The stores whose rows the current transaction may see: every store for head office,
-- the manager's own store for a store manager, none for anyone else (no principal bound,
-- or an unknown one). Policies call it as a scalar subquery, (select ...), so it runs
-- once per query rather than once per row. SECURITY DEFINER: it reads retail.stores
-- whatever the caller's own view of that table is.
set role {{ owner }};

create or replace function mcp_internal.visible_store_ids()
returns integer[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
begin atomic
    -- The principal is looked up once, not twice for every store.
    with bound as materialized (
        select mcp.current_principal() as principal
    )

    select coalesce(array_agg(store.store_id order by store.store_id), '{}')
    from bound
    inner join retail.stores as store
        on
            bound.principal = mcp_internal.head_office_principal()
            or bound.principal = store.rls_user_id;
end;

comment on function mcp_internal.visible_store_ids() is
'Store ids the current transaction may see: all for head office, one for a store manager, none otherwise.';

grant execute on function mcp_internal.visible_store_ids() to {{ reader }};

reset role;
