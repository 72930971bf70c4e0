-- Attacks: hostile inputs against the database layer, as Seattle's store manager would send
-- them through mcp.run_query, mcp.explain_query, mcp.describe_tables and mcp.search_products.
-- Grouped by the property of DESIGN.md they attack (P2 tenancy, P3 no writes, P4 one
-- query, P5 bounded cost, P7 bound parameters, P8 no files or other databases, P9 safe errors).
--
-- The file runs as production does: the session user is Seattle's own login role (the
-- superuser hands the session to it with SET LOCAL SESSION AUTHORIZATION, in a transaction it
-- has made read-only as the server's `begin read only` does), so a query that resets its role
-- with set_config('role', 'none', true) falls back to Seattle's role itself, exactly as on
-- the server. Only set_config('session_authorization', ...) from inside a query is not
-- production-like here (the authenticated user is still the superuser), so that attack is
-- left to the Python suite; so are the attacks that need a second caller in flight.
--
-- One role for the whole file: ROLLBACK TO SAVEPOINT would also undo pgTAP's own counters
-- (they live in temp tables), so the owner's view is read through pg_temp helpers instead.
begin;
select plan(135);

-- ---------------------------------------------------------------------------------------
-- Fixtures, as the superuser (the owner's view), before switching to Seattle's role.
-- ---------------------------------------------------------------------------------------

-- What the owner sees of retail, as one digest: row counts of every table, the sums an
-- attacker would most like to change, large objects, and relations in our schemas.
-- (Sequences are left out: other test files running at the same time advance them.)
-- SECURITY DEFINER so that it reads as the superuser whatever role the test is in.
create function pg_temp.retail_checksum()
returns text
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select md5(concat_ws(
        '|',
        (select count(*) from retail.stores),
        (select count(*) from retail.customers),
        (select count(*) from retail.categories),
        (select count(*) from retail.product_types),
        (select count(*) from retail.products),
        (select count(*) from retail.product_description_embeddings),
        (select count(*) from retail.inventory),
        (select sum(stock_level) from retail.inventory),
        (select count(*) from retail.orders),
        (select count(*) from retail.order_items),
        (select sum(total_amount) from retail.order_items),
        (select count(*) from pg_largeobject_metadata),
        (
            select count(*) from pg_class
            where relnamespace in ('retail'::regnamespace, 'mcp'::regnamespace, 'mcp_internal'::regnamespace)
        )
    ))
$$;

-- Runs one call (returning jsonb) as the current role in a subtransaction that is always
-- undone, and reports what it returned or the error it raised (query cancels included),
-- with the role and principal the call left behind in its transaction.
create function pg_temp.attempt(call text)
returns jsonb
language plpgsql
as $$
declare
    outcome jsonb;
begin
    begin
        begin
            execute call into outcome;
            outcome := jsonb_build_object('returned', outcome);
        exception when query_canceled or others then
            outcome := jsonb_build_object('error', sqlstate || ': ' || sqlerrm);
        end;
        outcome := outcome || jsonb_build_object(
            'role_after', current_user::text,
            'principal_after', mcp.current_principal()
        );
        raise exception using errcode = 'ZT001';
    exception when sqlstate 'ZT001' then
        null;  -- undo whatever the call changed (its role, its settings)
    end;
    return outcome;
end;
$$;

-- The store ids a query passed to mcp.run_query saw, as a sorted json array: the values of
-- its column named "stores" (an array of store ids) over all its rows; or the error it
-- raised, as 'SQLSTATE: message'.
create function pg_temp.stores_seen(query text)
returns text
language sql
as $$
    select coalesce(
        attempted.outcome ->> 'error',
        (
            select coalesce(jsonb_agg(distinct seen.store_id order by seen.store_id), '[]')::text
            from jsonb_array_elements(attempted.outcome -> 'returned' -> 'columns')
                with ordinality as result_column (definition, position)
            cross join jsonb_array_elements(attempted.outcome -> 'returned' -> 'rows') as result_row (cells)
            cross join jsonb_array_elements(result_row.cells -> (result_column.position::integer - 1)) as seen (store_id)
            where result_column.definition ->> 'name' = 'stores'
        )
    )
    from (select pg_temp.attempt(format('select mcp.run_query(%L)', query)) as outcome) as attempted
$$;

create temp table owner_view as
select
    seattle.rls_user_id as seattle,
    (
        select known.role_name::text
        from mcp_internal.principal_roles as known
        where known.rls_user_id = seattle.rls_user_id
    ) as seattle_role,
    (
        select known.role_name::text
        from mcp_internal.principal_roles as known
        where known.rls_user_id = mcp_internal.head_office_principal()
    ) as head_office_role,
    jsonb_build_array(seattle.store_id)::text as seattle_stores,
    (
        select jsonb_build_object('min', min(orders.order_date), 'max', max(orders.order_date))
        from retail.orders as orders
        where orders.store_id = seattle.store_id
    ) as seattle_order_dates,
    (
        select count(*)
        from retail.orders as orders
        where orders.store_id <> seattle.store_id
    ) as other_stores_orders,
    (
        select count(*)
        from pg_stats as statistic
        where statistic.schemaname = 'retail'
    ) as retail_statistics,
    (select string_agg(listed.table_name, ', ' order by listed.table_name) from mcp.list_tables() as listed) as table_list,
    pg_temp.retail_checksum() as checksum
from retail.stores as seattle
where seattle.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479';

grant select on owner_view to public;

-- Log in as a tool call of Seattle's store manager does: as Seattle's own role, in a
-- read-only transaction. (\gexec because the role's name is known only at run time.)
select set_config('transaction_read_only', 'on', true);
select format('set local session authorization %I', seattle_role) from owner_view \gexec

-- ---------------------------------------------------------------------------------------
-- P4: one statement only, and only a query.
-- ---------------------------------------------------------------------------------------

select throws_ok(
    $$select mcp.run_query('select 1; commit; drop table retail.orders')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: a stacked COMMIT and DROP TABLE after a query are refused'
);

select throws_ok(
    $$select mcp.run_query('select 1; end; delete from retail.orders')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: a stacked END and DELETE after a query are refused'
);

select throws_ok(
    $$select mcp.run_query('select 1;/* ; */ delete from retail.orders')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: a DELETE stacked behind a comment holding a semicolon is refused'
);

select throws_ok(
    $t$select mcp.run_query('select $$;$$; delete from retail.orders')$t$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: a DELETE stacked after a dollar-quoted semicolon is refused'
);

select throws_ok(
    $$select mcp.run_query('values (1); delete from retail.orders')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: a DELETE stacked after VALUES is refused'
);

select throws_ok(
    $$select mcp.run_query('table retail.orders; truncate retail.orders')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: a TRUNCATE stacked after TABLE is refused'
);

select throws_ok(
    $$select mcp.explain_query('select 1; delete from retail.orders')$$,
    '42501',
    'mcp.explain_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P4: explain_query refuses a DELETE stacked after a query'
);

select throws_ok(
    $$select mcp.run_query('/* select */ delete from retail.orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DELETE',
    'P4: a leading comment saying select does not hide a DELETE'
);

select throws_ok(
    $$select mcp.run_query(e'-- x\ndelete from retail.orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DELETE',
    'P4: a leading line comment does not hide a DELETE'
);

select throws_ok(
    $$select mcp.run_query('/* /* */ select */ delete from retail.orders returning *')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DELETE',
    'P4: a select inside nested comments does not hide a DELETE ... RETURNING'
);

select throws_ok(
    $$select mcp.run_query('commit')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with COMMIT',
    'P4: COMMIT is refused'
);

select throws_ok(
    $$select mcp.run_query('rollback')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with ROLLBACK',
    'P4: ROLLBACK is refused'
);

select throws_ok(
    $$select mcp.run_query('end')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with END',
    'P4: END is refused'
);

select throws_ok(
    $$select mcp.run_query('begin')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with BEGIN',
    'P4: BEGIN is refused'
);

select throws_ok(
    $t$select mcp.run_query('do $$ begin delete from retail.orders; end $$')$t$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DO',
    'P4: a DO block is refused'
);

select throws_ok(
    $$select mcp.run_query('copy retail.orders to stdout')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with COPY',
    'P4: COPY ... TO STDOUT is refused'
);

select throws_ok(
    $$select mcp.run_query('copy (select * from retail.customers) to ''/tmp/zava_attack.csv''')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with COPY',
    'P4: COPY ... TO a server file is refused'
);

select throws_ok(
    $$select mcp.run_query('prepare attack as select * from retail.orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with PREPARE',
    'P4: PREPARE is refused'
);

select throws_ok(
    $$select mcp.run_query('execute mcp_run_query_columns')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with EXECUTE',
    'P4: EXECUTE of run_query''s own statement name is refused'
);

select throws_ok(
    $$select mcp.run_query('deallocate all')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DEALLOCATE',
    'P4: DEALLOCATE is refused'
);

select throws_ok(
    $$select mcp.run_query('set role zava_owner')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with SET',
    'P4: SET ROLE is refused'
);

select throws_ok(
    $$select mcp.run_query('set transaction read write')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with SET',
    'P4: SET TRANSACTION READ WRITE is refused'
);

select throws_ok(
    $$select mcp.run_query('reset all')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with RESET',
    'P4: RESET is refused'
);

select throws_ok(
    $$select mcp.run_query('listen orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with LISTEN',
    'P4: LISTEN is refused'
);

select throws_ok(
    $$select mcp.run_query('notify orders, ''hello''')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with NOTIFY',
    'P4: NOTIFY is refused'
);

select throws_ok(
    $$select mcp.run_query('vacuum retail.orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with VACUUM',
    'P4: VACUUM is refused'
);

select throws_ok(
    $$select mcp.run_query('create temp table loot as select * from retail.customers')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with CREATE',
    'P4: CREATE TEMP TABLE is refused'
);

select throws_ok(
    $$select mcp.run_query('call pg_catalog.pg_sleep(0)')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with CALL',
    'P4: CALL is refused'
);

select throws_ok(
    $$select mcp.run_query('explain analyze delete from retail.orders')$$,
    '42501',
    'mcp.run_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with EXPLAIN',
    'P4: EXPLAIN ANALYZE of a DELETE is refused by run_query'
);

select throws_ok(
    $$select mcp.explain_query('delete from retail.orders', true)$$,
    '42501',
    'mcp.explain_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with DELETE',
    'P4: explain_query with analyze refuses a DELETE'
);

select throws_ok(
    $$select mcp.run_query('/* select 1')$$,
    '42601',
    'mcp.run_query needs a query: the text is empty or holds only comments',
    'P4: an unterminated comment is not a query'
);

select is(
    mcp.run_query('select $$; delete from retail.orders; $$ as payload')::jsonb -> 'rows',
    '[["; delete from retail.orders; "]]'::jsonb,
    'P4: a semicolon inside dollar quotes is data: the text comes back and nothing runs'
);

select is(
    mcp.run_query('select 1 as one -- ; delete from retail.orders')::jsonb -> 'rows',
    '[[1]]'::jsonb,
    'P4: a DELETE after a line comment is a comment: the query runs alone'
);

select is(
    pg_temp.retail_checksum(),
    (select checksum from owner_view),
    'P4: after every refused statement, retail is unchanged in the owner''s view'
);

-- ---------------------------------------------------------------------------------------
-- P2: tenancy cannot be forged from inside the query. Each query reports the store ids of
-- the orders it read in a column named stores; Seattle must see its own store or an error.
-- ---------------------------------------------------------------------------------------

select is(
    pg_temp.stores_seen($$select array_agg(distinct store_id order by store_id) as stores from retail.orders$$),
    (select seattle_stores from owner_view),
    'P2: baseline: Seattle''s orders come from Seattle''s store only'
);

select is(
    pg_temp.stores_seen($$
        select
            set_config('mcp.principal', '00000000-0000-0000-0000-000000000000', true) as forged,
            array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config of a head office principal in the select list does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        with forged as (select set_config('mcp.rls_user_id', '00000000-0000-0000-0000-000000000000', true) as principal)
        select (select principal from forged) as forged, array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config of the principal inside a CTE does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select array_agg(distinct orders.store_id order by orders.store_id) as stores
        from (select set_config('app.current_rls_user_id', '00000000-0000-0000-0000-000000000000', true)) as forged
        cross join retail.orders as orders
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config in a subquery in FROM does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select array_agg(distinct orders.store_id order by orders.store_id) as stores
        from retail.orders as orders
        cross join lateral (
            select set_config('rls.user_id', '00000000-0000-0000-0000-000000000000', true)
            where orders.order_id > 0
        ) as forged
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config in a LATERAL subquery, once per row, does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select array_agg(distinct ordered.store_id order by ordered.store_id) as stores
        from (
            select store_id from retail.orders
            order by set_config('mcp.principal', '00000000-0000-0000-0000-000000000000', true), order_id
        ) as ordered
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config in ORDER BY does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select
            upper(set_config('mcp.principal', '00000000-0000-0000-0000-000000000000', true)) as forged,
            array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config as a function argument does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select array_agg(distinct store_id order by store_id) as stores
        from retail.orders
        where set_config('mcp.principal', '00000000-0000-0000-0000-000000000000', true) is not null
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config in WHERE does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select
            (
                select count(*)
                from ts_stat('select to_tsvector(set_config(''mcp.principal'', ''00000000-0000-0000-0000-000000000000'', true))')
            ) as forged,
            (select array_agg(distinct store_id order by store_id) from retail.orders) as stores
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config run as a nested statement (ts_stat runs SQL text) does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select set_config('role', 'zava_owner', true) as forged, array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    '42501: permission denied to set role "zava_owner"',
    'P2: set_config(''role'', ''zava_owner'') in the select list is refused'
);

select is(
    pg_temp.stores_seen($$
        select array_agg(distinct store_id order by store_id) as stores
        from retail.orders
        where set_config('role', 'zava_owner', true) is not null
    $$),
    '42501: permission denied to set role "zava_owner"',
    'P2: set_config(''role'', ''zava_owner'') in WHERE is refused'
);

select is(
    pg_temp.stores_seen($$
        select set_config('role', 'none', true) as reset_to, query_to_xml('select set_config(''role'', ''zava_owner'', true)', true, true, '') as forged
    $$),
    '42501: permission denied to set role "zava_owner"',
    'P2: after resetting its role (to Seattle''s own), a query still cannot become the table owner'
);

select is(
    pg_temp.stores_seen($$
        with forged as (select set_config('role', 'none', true) as reset_to)
        select (select reset_to from forged) as reset_to, array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config(''role'', ''none'') in a CTE does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select array_agg(distinct orders.store_id order by orders.store_id) as stores
        from retail.orders as orders
        cross join lateral (select set_config('role', 'none', true) where orders.order_id > 0) as forged
    $$),
    (select seattle_stores from owner_view),
    'P2: set_config(''role'', ''none'') in a LATERAL subquery does not widen Seattle''s view'
);

select is(
    pg_temp.stores_seen($$
        select
            set_config('role', 'none', true) as reset_to,
            (
                select array_agg(lexeme.word::integer order by lexeme.word::integer)
                from ts_stat('select to_tsvector(''simple'', string_agg(distinct store_id::text, '' '')) from retail.orders')
                    as lexeme
            ) as stores
    $$),
    (select seattle_stores from owner_view),
    'P2: a nested statement run after the query reset its role (ts_stat runs SQL text) still reads only Seattle''s orders'
);

select is(
    pg_temp.stores_seen($$
        select
            set_config('role', 'none', true) as reset_to,
            (
                select count(*)
                from ts_stat('select to_tsvector(mcp.bind_principal(''00000000-0000-0000-0000-000000000000'')::text)')
            ) as rebound
    $$),
    '42501: permission denied for function bind_principal',
    'P2: after resetting its role, a query cannot switch to head office with mcp.bind_principal'
);

select is(
    pg_temp.stores_seen($$
        select
            set_config('role', 'none', true) as reset_to,
            (
                select count(*)
                from ts_stat('select to_tsvector(mcp_internal.principal_role(''00000000-0000-0000-0000-000000000000''))')
            ) as learned
    $$),
    '42501: permission denied for function principal_role',
    'P2: after resetting its role, a query cannot learn head office''s role from mcp_internal.principal_role'
);

select is(
    pg_temp.stores_seen(format(
        $$select set_config('role', 'none', true) as reset_to, set_config('role', %L, true) as forged$$,
        (select head_office_role from owner_view)
    )),
    format('42501: permission denied to set role "%s"', (select head_office_role from owner_view)),
    'P2: after resetting its role, a query cannot switch to head office''s role, even knowing its name'
);

select is(
    pg_temp.stores_seen($$
        select set_config('role', 'zava_reader', true) as forged, array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    '42501: permission denied to set role "zava_reader"',
    'P2: a query cannot shed its principal by switching to the reader role it inherits from'
);

select is(
    mcp.run_query($$
        select count(*) as settable
        from pg_roles as role
        where role.rolname <> current_user and pg_has_role(role.oid, 'set')
    $$)::jsonb -> 'rows',
    '[[0]]'::jsonb,
    'P2: of all the roles pg_roles lists, a query may SET ROLE to none but its own'
);

select is(
    mcp.run_query($$
        select count(mcp_internal.principal_of_role(role.rolname)) as known
        from pg_roles as role
    $$)::jsonb -> 'rows',
    '[[1]]'::jsonb,
    'P2: of all the roles pg_roles lists, mcp_internal.principal_of_role names the principal of the query''s own role only'
);

select is(
    pg_temp.stores_seen($$
        select
            (
                select count(*) from pg_roles as role
                where mcp_internal.store_ids_of_role(role.rolname) <> '{}' or mcp_internal.is_known_role(role.rolname)
            ) as asked,
            mcp_internal.is_known_principal('00000000-0000-0000-0000-000000000000') as known,
            array_agg(distinct store_id order by store_id) as stores
        from retail.orders
    $$),
    (select seattle_stores from owner_view),
    'P2: asking the policies'' helpers about every role and about head office does not widen Seattle''s view'
);

select is(
    mcp.run_query($$
        select array_agg(distinct listed.id) as stores, count(distinct role.rolname) as roles
        from pg_roles as role
        cross join unnest(mcp_internal.store_ids_of_role(role.rolname)) as listed (id)
        where mcp_internal.is_known_role(role.rolname)
    $$)::jsonb -> 'rows',
    '[[[1], 1]]'::jsonb,
    'P2: of all the roles pg_roles lists, mcp_internal.store_ids_of_role and is_known_role answer for the query''s own role only'
);

select is(
    pg_temp.attempt($$select mcp.run_query('select set_config(''role'', ''none'', true) as reset_to')$$) ->> 'role_after',
    (select seattle_role from owner_view),
    'P2: set_config(''role'', ''none'') falls back to Seattle''s own role: there is no other login role to fall back to'
);

select is(
    (pg_temp.attempt($$select mcp.run_query('select set_config(''role'', ''none'', true) as reset_to')$$) ->> 'principal_after')::uuid,
    (select seattle from owner_view),
    'P2: after set_config(''role'', ''none''), the query still acts for Seattle'
);

select is(
    (
        pg_temp.attempt($$
            select mcp.run_query('select set_config(''mcp.principal'', ''00000000-0000-0000-0000-000000000000'', true) as forged')
        $$) ->> 'principal_after'
    )::uuid,
    (select seattle from owner_view),
    'P2: after set_config of a forged principal, mcp.current_principal() is still Seattle'
);

select throws_ok(
    $$select mcp.run_query('select set_config(''transaction_read_only'', ''off'', true)')$$,
    '25001',
    'cannot set transaction read-write mode inside a read-only transaction',
    'P2: set_config(''transaction_read_only'', ''off'') is refused'
);

select throws_ok(
    $$select mcp.run_query('with mapped as (insert into mcp_internal.principal_roles (role_name, rls_user_id) values (current_user, ''00000000-0000-0000-0000-000000000000'') on conflict (role_name) do update set rls_user_id = excluded.rls_user_id returning *) select * from mapped')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'P2: an INSERT mapping the query''s role to head office in a data-modifying CTE is refused'
);

select throws_ok(
    $$select mcp.run_query('with mapped as (update mcp_internal.principal_roles set rls_user_id = ''00000000-0000-0000-0000-000000000000'' returning *) select * from mapped')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'P2: an UPDATE of principal_roles in a data-modifying CTE is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from mcp_internal.principal_roles')$$,
    '42501',
    'permission denied for table principal_roles',
    'P2: a principal''s query cannot even read which role serves which principal'
);

select throws_ok(
    $$select mcp.run_query('select mcp_internal.principal_role(''00000000-0000-0000-0000-000000000000'')')$$,
    '42501',
    'permission denied for function principal_role',
    'P2: a principal''s query cannot call mcp_internal.principal_role for head office'
);

select throws_ok(
    $$select mcp.run_query('select mcp.bind_principal(''00000000-0000-0000-0000-000000000000'')')$$,
    '42501',
    'permission denied for function bind_principal',
    'P2: a principal''s query cannot call mcp.bind_principal for head office'
);

select is(
    mcp.current_principal(),
    (select seattle from owner_view),
    'P2: after every tenancy attack, mcp.current_principal() is still Seattle'
);

select is(
    current_user::text,
    (select seattle_role from owner_view),
    'P2: after every tenancy attack, the transaction still runs as Seattle''s role'
);

-- ---------------------------------------------------------------------------------------
-- P10: callers are invisible to one another. (Attacks with a second caller in flight are in
-- the Python suite; here, that nothing of any other backend shows.)
-- ---------------------------------------------------------------------------------------

select is(
    mcp.run_query($$
        select
            set_config('role', 'none', true) as reset_to,
            (
                select count(*)
                from pg_stat_activity as activity
                where
                    activity.pid <> pg_backend_pid()
                    and activity.usename <> current_user
                    and coalesce(activity.query, '') not in ('', '<insufficient privilege>')
            ) as visible
    $$)::jsonb -> 'rows' -> 0 -> 1,
    '0'::jsonb,
    'P10: after resetting its role, a query sees the statement of no other principal''s backend in pg_stat_activity'
);

select is(
    mcp.run_query($$
        select
            set_config('role', 'none', true) as reset_to,
            pg_has_role('pg_read_all_stats', 'usage')
            or pg_has_role('pg_signal_backend', 'usage')
            or pg_has_role('pg_monitor', 'usage') as may_watch_others
    $$)::jsonb -> 'rows' -> 0 -> 1,
    'false'::jsonb,
    'P10: after resetting its role, a query holds neither pg_read_all_stats, pg_signal_backend nor pg_monitor, so other roles'' statements stay hidden and their backends unsignalled'
);

-- ---------------------------------------------------------------------------------------
-- P3: nothing is written.
-- ---------------------------------------------------------------------------------------

select throws_ok(
    $$select mcp.run_query('with deleted as (delete from retail.order_items returning *) select count(*) from deleted')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'P3: a DELETE in a data-modifying CTE is refused'
);

select throws_ok(
    $$select mcp.run_query('with updated as (update retail.inventory set stock_level = 0 returning *) select count(*) from updated')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'P3: an UPDATE in a data-modifying CTE is refused'
);

select throws_ok(
    $$select mcp.run_query('with inserted as (insert into retail.stores (store_name, rls_user_id) values (''Zava Retail Evil'', gen_random_uuid()) returning *) select * from inserted')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'P3: an INSERT in a data-modifying CTE is refused'
);

select throws_ok(
    $$select mcp.explain_query('with deleted as (delete from retail.orders returning 1) select * from deleted', true)$$,
    '42501',
    'mcp.explain_query only reads: the query tried to write (a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes)',
    'P3: EXPLAIN ANALYZE of a data-modifying CTE is refused'
);

select throws_ok(
    $$select mcp.run_query('select * into loot from retail.customers')$$,
    '42501',
    'mcp.run_query runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
    'P3: SELECT ... INTO a new table is refused'
);

select throws_ok(
    $$select mcp.run_query('select query_to_xml(''delete from retail.orders'', true, true, '''')')$$,
    '0A000',
    'DELETE is not allowed in a non-volatile function',
    'P3: a DELETE smuggled through query_to_xml is refused'
);

select throws_ok(
    $$select mcp.run_query('select nextval(''retail.orders_order_id_seq'')')$$,
    '42501',
    'permission denied for sequence orders_order_id_seq',
    'P3: nextval on a retail sequence is refused'
);

select throws_ok(
    $$select mcp.run_query('select setval(''retail.orders_order_id_seq'', 1)')$$,
    '42501',
    'permission denied for sequence orders_order_id_seq',
    'P3: setval on a retail sequence is refused'
);

select throws_ok(
    $$select mcp.run_query('select lo_create(0)')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (cannot execute lo_create() in a read-only transaction)',
    'P3: lo_create is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from retail.orders for update')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (cannot execute SELECT FOR UPDATE in a read-only transaction)',
    'P3: SELECT ... FOR UPDATE (a row lock is a write) is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from retail.orders for share')$$,
    '42501',
    'mcp.run_query only reads: the query tried to write (cannot execute SELECT FOR SHARE in a read-only transaction)',
    'P3: SELECT ... FOR SHARE is refused'
);

select is(
    mcp.run_query('select pg_current_xact_id()::text as xid')::jsonb -> 'rows' -> 0 ->> 0,
    pg_current_xact_id()::text,
    'P3: pg_current_xact_id() in the query only reports the call''s own transaction id: no new transaction, nothing written'
);

select is(
    pg_temp.retail_checksum(),
    (select checksum from owner_view),
    'P3: after every write attempt, retail is unchanged in the owner''s view'
);

-- ---------------------------------------------------------------------------------------
-- P5: bounded cost. The server arms its budget before the call; here SET LOCAL does it.
-- The timer starts with the statement, so the query's own set_config cannot disarm it.
-- ---------------------------------------------------------------------------------------

set local statement_timeout = '300ms';

select is(
    pg_temp.attempt($$select mcp.run_query('select pg_sleep(2)')$$) ->> 'error',
    '57014: canceling statement due to statement timeout',
    'P5: a query sleeping past the budget is cancelled'
);

select is(
    pg_temp.attempt($$select mcp.run_query('select set_config(''statement_timeout'', ''0'', true), pg_sleep(2)')$$) ->> 'error',
    '57014: canceling statement due to statement timeout',
    'P5: a query that sets statement_timeout to 0 is still cancelled by the armed budget'
);

select is(
    pg_temp.attempt($$select mcp.explain_query('select pg_sleep(2)', true)$$) ->> 'error',
    '57014: canceling statement due to statement timeout',
    'P5: EXPLAIN ANALYZE of a slow query is cancelled by the budget'
);

set local statement_timeout = '5s';

select is(
    mcp.run_query('select repeat(''x'', 1000000) as filler from generate_series(1, 1000)')::jsonb -> 'truncated',
    'true'::jsonb,
    'P5: a gigabyte of results comes back truncated'
);

select cmp_ok(
    octet_length((mcp.run_query('select repeat(''x'', 1000000) as filler from generate_series(1, 1000)')::jsonb -> 'rows')::text),
    '<=',
    1048576,
    'P5: a gigabyte of results comes back within the default 1 MiB cap'
);

select cmp_ok(
    octet_length((mcp.run_query('select repeat(''x'', 1000) as filler from generate_series(1, 1000)', 100, 4096)::jsonb -> 'rows')::text),
    '<=',
    4096,
    'P5: rows come back within a small max_bytes'
);

select is(
    pg_temp.attempt($$
        select mcp.run_query('select a, b from generate_series(1, 1e6) as a cross join generate_series(1, 1e6) as b', 5)
    $$) -> 'returned' -> 'row_count',
    '5'::jsonb,
    'P5: a cross join of a trillion rows with max_rows 5 returns 5 rows within 5 seconds (a cursor, not materialized)'
);

select is(
    mcp.run_query('select a from generate_series(1, 1e6) as a', 5)::jsonb -> 'truncated',
    'true'::jsonb,
    'P5: a million rows with max_rows 5 are reported as truncated'
);

select lives_ok(
    $$select mcp.run_query('select ''[1,2,3,4,5,6,7,8]''::vector <-> ''[8,7,6,5,4,3,2,1]''::vector as distance')$$,
    'P5: vector math in a query returns a value and does not take the server down'
);

set local statement_timeout = 0;

-- ---------------------------------------------------------------------------------------
-- P7: introspection and search parameters are bound, never concatenated.
-- ---------------------------------------------------------------------------------------

select throws_ok(
    $$select mcp.describe_tables(array['orders; drop table retail.orders'])$$,
    '42P01',
    'unknown table "orders; drop table retail.orders"; the tables are: ' || (select table_list from owner_view),
    'P7: describe_tables treats a stacked DROP TABLE as an unknown name'
);

select throws_ok(
    $$select mcp.describe_tables(array['orders'' or ''1''=''1'])$$,
    '42P01',
    'unknown table "orders'' or ''1''=''1"; the tables are: ' || (select table_list from owner_view),
    'P7: describe_tables treats a quote-breaking OR 1=1 as an unknown name'
);

select throws_ok(
    $$select mcp.describe_tables(array['pg_catalog.pg_authid'])$$,
    '42P01',
    'unknown table "pg_catalog.pg_authid"; the tables are: ' || (select table_list from owner_view),
    'P7: describe_tables does not describe pg_catalog.pg_authid'
);

select throws_ok(
    $$select mcp.describe_tables(array['mcp_internal.principal_roles'])$$,
    '42P01',
    'unknown table "mcp_internal.principal_roles"; the tables are: ' || (select table_list from owner_view),
    'P7: describe_tables does not describe the mapping of roles to principals'
);

select throws_ok(
    $$select mcp.describe_tables(array['../etc/passwd'])$$,
    '42P01',
    'unknown table "../etc/passwd"; the tables are: ' || (select table_list from owner_view),
    'P7: describe_tables treats a path as an unknown name'
);

select throws_ok(
    $$select mcp.describe_tables(array['retail.orders where false'])$$,
    '42P01',
    'unknown table "retail.orders where false"; the tables are: ' || (select table_list from owner_view),
    'P7: describe_tables treats a name with a WHERE clause as an unknown name'
);

select throws_ok(
    $$select mcp.describe_tables(array_fill('orders'::text, array[51]))$$,
    '22023',
    'describe_tables takes at most 50 table names, not 51',
    'P7: describe_tables refuses more than 50 names'
);

select is(
    mcp.describe_tables(array['  ORDERS ']) -> 0 ->> 'table_name',
    'retail.orders',
    'P7: describe_tables only compares names: an upper-case, padded name finds retail.orders'
);

select throws_ok(
    $$select mcp.run_query('select 1', 0)$$,
    '22023',
    'max_rows must be between 1 and 10000, not 0',
    'P7: run_query refuses max_rows 0'
);

select throws_ok(
    $$select mcp.run_query('select 1', 10001)$$,
    '22023',
    'max_rows must be between 1 and 10000, not 10001',
    'P7: run_query refuses max_rows above 10000'
);

select throws_ok(
    $$select mcp.run_query('select 1', null)$$,
    '22023',
    'max_rows must be between 1 and 10000, not null',
    'P7: run_query refuses a null max_rows'
);

select throws_ok(
    $$select mcp.run_query('select 1', 10, 1023)$$,
    '22023',
    'max_bytes must be between 1024 and 67108864, not 1023',
    'P7: run_query refuses max_bytes below 1 KiB'
);

select throws_ok(
    $$select mcp.run_query('select 1', 10, 67108865)$$,
    '22023',
    'max_bytes must be between 1024 and 67108864, not 67108865',
    'P7: run_query refuses max_bytes above 64 MiB'
);

select throws_ok(
    $$select mcp.explain_query('select 1', null)$$,
    '22023',
    'analyze must be true or false, not null',
    'P7: explain_query refuses a null analyze'
);

select throws_ok(
    $$select count(*) from mcp.search_products(('[' || array_to_string(array_fill(0.1, array[384]), ',') || ']')::vector, 0)$$,
    '22023',
    'max_rows must be between 1 and 200, not 0',
    'P7: search_products refuses max_rows 0'
);

select throws_ok(
    $$select count(*) from mcp.search_products(('[' || array_to_string(array_fill(0.1, array[384]), ',') || ']')::vector, 20, 101)$$,
    '22023',
    'min_similarity is a percentage between 0 and 100, not 101',
    'P7: search_products refuses a min_similarity above 100'
);

select throws_ok(
    $$select count(*) from mcp.search_products('[1,2,3]'::vector)$$,
    '22000',
    'the query embedding has 3 dimensions, but product embeddings have 384',
    'P7: search_products refuses an embedding of the wrong dimension'
);

select collect_tap(
    results_eq(
        $$
            select product_id
            from mcp.search_products(
                ('[' || array_to_string(array_fill(0.1, array[384]), ',') || ']')::vector, 200, 100,
                'x''); drop table retail.products; --'
            )
            order by product_id
        $$,
        $$
            select product_id
            from retail.products
            where tsvector_to_array(search_document) && tsvector_to_array(to_tsvector('english', 'x''); drop table retail.products; --'))
            order by product_id
        $$,
        'P7: search_products treats a quote-breaking DROP TABLE in query_text as words to search for (any of them)'
    ),
    results_eq(
        $$
            select product_id
            from mcp.search_products(
                ('[' || array_to_string(array_fill(0.1, array[384]), ',') || ']')::vector, 200, 100,
                '"circular saw" or hammer -claw'
            )
            order by product_id
        $$,
        $$
            select product_id
            from retail.products
            where tsvector_to_array(search_document) && tsvector_to_array(to_tsvector('english', '"circular saw" or hammer -claw'))
            order by product_id
        $$,
        'P7: search operators in query_text (quotes, or, minus) are words like any other: a product with any of the words matches'
    ),
    -- With products embedded (the standby suite's database) the model is refused by
    -- name: the text was compared as a value, never run. Any other error fails.
    lives_ok(
        $$
            do $attack$
            begin
                perform count(*)
                from mcp.search_products(
                    ('[' || array_to_string(array_fill(0.1, array[384]), ',') || ']')::vector, 20, 30,
                    null, false, 'm''; drop table retail.products; --'
                );
            exception when data_exception then
                if sqlerrm not like 'the query was embedded by model m''; drop table retail.products; --, but %' then
                    raise;
                end if;
            end
            $attack$
        $$,
        'P7: a quote-breaking DROP TABLE in query_model is never run'
    )
);

select is(
    pg_temp.retail_checksum(),
    (select checksum from owner_view),
    'P7: after every parameter attack, retail is unchanged in the owner''s view'
);

-- ---------------------------------------------------------------------------------------
-- P8: server files and other databases are out of reach.
-- ---------------------------------------------------------------------------------------

select throws_ok(
    $$select mcp.run_query('select pg_read_file(''/etc/passwd'')')$$,
    '42501',
    'permission denied for function pg_read_file',
    'P8: pg_read_file in the select list is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from pg_read_file(''/etc/passwd'')')$$,
    '42501',
    'permission denied for function pg_read_file',
    'P8: pg_read_file as a function in FROM is refused'
);

select throws_ok(
    $$select mcp.run_query('select pg_read_binary_file(''postgresql.conf'')')$$,
    '42501',
    'permission denied for function pg_read_binary_file',
    'P8: pg_read_binary_file is refused'
);

select throws_ok(
    $$select mcp.run_query('select pg_ls_dir(''.'')')$$,
    '42501',
    'permission denied for function pg_ls_dir',
    'P8: pg_ls_dir is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from pg_ls_logdir()')$$,
    '42501',
    'permission denied for function pg_ls_logdir',
    'P8: pg_ls_logdir is refused'
);

select throws_ok(
    $$select mcp.run_query('select pg_stat_file(''postgresql.conf'')')$$,
    '42501',
    'permission denied for function pg_stat_file',
    'P8: pg_stat_file is refused'
);

select throws_ok(
    $$select mcp.run_query('select lo_import(''/etc/passwd'')')$$,
    '42501',
    'permission denied for function lo_import',
    'P8: lo_import of a server file is refused'
);

select throws_ok(
    $$select mcp.run_query('select lo_export(0, ''/tmp/zava_attack'')')$$,
    '42501',
    'permission denied for function lo_export',
    'P8: lo_export to a server file is refused'
);

select throws_ok(
    $$select mcp.explain_query('copy retail.orders from program ''id''')$$,
    '42501',
    'mcp.explain_query runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with COPY',
    'P8: COPY ... FROM PROGRAM is refused'
);

select throws_ok(
    $$select mcp.run_query('select query_to_xml(''copy (select 1) to program ''''id'''''', true, true, '''')')$$,
    '0A000',
    'COPY is not allowed in a non-volatile function',
    'P8: COPY ... TO PROGRAM smuggled through query_to_xml is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from dblink(''dbname=postgres'', ''select rolpassword from pg_authid'') as t (p text)')$$,
    '42883',
    'function dblink(unknown, unknown) does not exist',
    'P8: dblink is not available'
);

select throws_ok(
    $$select mcp.run_query('select rolname, rolpassword from pg_authid')$$,
    '42501',
    'permission denied for table pg_authid',
    'P8: pg_authid is refused'
);

select throws_ok(
    $$select mcp.run_query('select usename, passwd from pg_shadow')$$,
    '42501',
    'permission denied for view pg_shadow',
    'P8: pg_shadow is refused'
);

select throws_ok(
    $$select mcp.run_query('select * from pg_file_settings')$$,
    '42501',
    'permission denied for view pg_file_settings',
    'P8: the server''s configuration files are refused'
);

select throws_ok(
    $$select mcp.run_query('select current_setting(''data_directory'')')$$,
    '42501',
    'permission denied to examine "data_directory"',
    'P8: the server''s data directory is not disclosed'
);

select is(
    mcp.run_query('select count(*) from pg_stats where schemaname = ''retail''')::jsonb -> 'rows',
    '[[0]]'::jsonb,
    format(
        'P8: the reader sees no column statistics of the row-level-secured retail tables (the owner sees %s)',
        (select retail_statistics from owner_view)
    )
);

-- ---------------------------------------------------------------------------------------
-- P9: errors are safe: row level security filters before the caller's expressions run, so
-- an expression that would fail on another store's value never meets one.
-- ---------------------------------------------------------------------------------------

select is(
    mcp.run_query(
        'select 1 / (store_id - store_id) from retail.orders where store_id = (select store_id from retail.stores where store_name like ''%Bellevue'')'
    )::jsonb -> 'row_count',
    '0'::jsonb,
    format(
        'P9: dividing by zero on Bellevue''s orders returns no rows rather than an error (other stores have %s orders)',
        (select other_stores_orders from owner_view)
    )
);

select is(
    mcp.run_query(
        'select count(*) from retail.orders where 1 / (store_id - (select store_id from retail.stores where store_name like ''%Bellevue'')) = 0'
    )::jsonb -> 'rows',
    '[[0]]'::jsonb,
    'P9: a division that fails only on Bellevue''s rows in WHERE never raises for Seattle'
);

select is(
    mcp.run_query($$
        select count(*) from retail.customers
        where case
            when primary_store_id = (select store_id from retail.stores where rls_user_id = mcp.current_principal()) then false
            else email::integer = 0
        end
    $$)::jsonb -> 'rows',
    '[[0]]'::jsonb,
    'P9: a cast that would put another store''s customer email in an error message never runs'
);

select is(
    (
        mcp.explain_query(
            'select * from retail.orders where store_id = (select store_id from retail.stores where store_name like ''%Bellevue'')',
            true
        ) -> 'Plan' ->> 'Actual Rows'
    )::numeric,
    0::numeric,
    'P9: EXPLAIN ANALYZE of Bellevue''s orders counts no rows for Seattle'
);

select is(
    mcp.describe_tables(array['orders']) -> 0 -> 'value_ranges' -> 'order_date',
    (select seattle_order_dates from owner_view),
    'P9: describe_tables reports the date range of Seattle''s own orders'
);

-- ---------------------------------------------------------------------------------------
-- After everything, as the superuser again: nothing was written.
-- ---------------------------------------------------------------------------------------

reset session authorization;

select is(
    pg_temp.retail_checksum(),
    (select checksum from owner_view),
    'P3: after every attack in this file, retail is unchanged in the owner''s view'
);

select * from finish();
rollback;
