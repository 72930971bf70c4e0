-- mcp_internal.store_ids_of_role(role_name name) -> integer[]
--
-- The stores the principal of a login role may see: every store for head office, the
-- manager's own store for a store manager, none for anyone else. Like
-- mcp_internal.principal_of_role it answers only for a role the session's own user is a
-- member of, and an empty list otherwise, so nobody learns another session's stores.
-- SECURITY DEFINER: it reads the mapping and retail.stores, whatever the caller's view of
-- them is.
--
-- The store policies call it (through mcp_internal.visible_store_ids) once per table a
-- query reads, so it is one query where it was three functions (the principal of the
-- role, then that principal's stores, then the padding below): 55 against 105 us a
-- statement in pgbench (docs/benchmarks.md, section 2, before and after).
--
-- Head office's list is padded with copies of its first store up to 27 ids. A scalar
-- subquery's value is kept in a tuple, where an array of up to 26 integers is stored with
-- a short header; `store_id = any(...)` then copies such an array back for every row it
-- tests (88 ns a row, against 41 ns for an array of 27 here: EXPLAIN ANALYZE of a scan of
-- 400,876 order lines filtered by the subquery). Every row head office reads matches one
-- of the real ids before the copies, which are never compared. The cost: an index scan
-- that takes the list as its condition sorts it again on each rescan, about 0.5 us more
-- with 27 ids (442 probes of the inventory index, one per product: 1.01 -> 1.22 ms). A
-- store manager's list stays one id: most rows a manager's filter tests do not match, and
-- would be compared with all 27.
set role {{ owner }};

create or replace function mcp_internal.store_ids_of_role(role_name name)
returns integer[]
language sql
stable
parallel safe
security definer
set search_path = pg_catalog, pg_temp
return (
    select
        case
            when count(*) > 1
                then
                    array_agg(store.store_id order by store.store_id)
                    || array_fill(min(store.store_id), array[greatest(27 - count(*)::integer, 0)])
            else coalesce(array_agg(store.store_id), '{}')
        end
    from mcp_internal.principal_roles as known
    inner join retail.stores as store
        on known.rls_user_id = mcp_internal.head_office_principal() or known.rls_user_id = store.rls_user_id
    where
        -- store_ids_of_role.role_name is the function's parameter
        known.role_name = store_ids_of_role.role_name  -- noqa: RF01
        and pg_has_role(session_user, known.role_name, 'member')
);

comment on function mcp_internal.store_ids_of_role(name) is
'Store ids the principal of a role may see (all for head office, padded to 27 ids; one for a store manager; none otherwise), answered only for a role the session user is a member of.';

grant execute on function mcp_internal.store_ids_of_role(name) to {{ reader }};

reset role;
