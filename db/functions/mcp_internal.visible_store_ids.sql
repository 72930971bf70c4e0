-- mcp_internal.visible_store_ids() -> integer[]
--
-- The stores whose rows the current role may see: every store for head office, the
-- manager's own store for a store manager, none for anyone else. Policies call it as a
-- scalar subquery, (select ...), so it runs once per query rather than once per row.
-- SECURITY INVOKER, so mcp.current_principal() sees the caller's role; the stores are
-- read by mcp_internal.store_ids_of, whatever the caller's own view of that table is.
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

create or replace function mcp_internal.visible_store_ids()
returns integer[]
language sql
stable
parallel safe
return (
    select
        case
            when cardinality(visible.ids) > 1
                then visible.ids || array_fill(visible.ids[1], array[greatest(27 - cardinality(visible.ids), 0)])
            else visible.ids
        end
    from (select mcp_internal.store_ids_of(mcp.current_principal()) as ids) as visible
);

comment on function mcp_internal.visible_store_ids() is
'Store ids the current role may see: all for head office (padded to 27 ids with copies of the first), one for a store manager, none otherwise.';

grant execute on function mcp_internal.visible_store_ids() to {{ reader }};

reset role;
