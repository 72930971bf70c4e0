-- Principal roles (db/principal_roles.sql, db/schema/30_principal_roles.sql,
-- mcp.current_principal, mcp_internal.principal_of_role, mcp_internal.principal_role,
-- mcp_internal.store_ids_of_role, mcp_internal.is_known_role,
-- mcp.bind_principal): every principal, head office and each store's manager, has a login
-- role of its own, and a tool call's connection logs in as it, so the login is the binding
-- and nothing is written per call. A principal role inherits the reader's privileges but can
-- SET ROLE to nothing, so a query that resets its role (set_config('role', 'none', true)) is
-- still itself and sees only its own rows; it cannot switch to the reader, another principal,
-- the server or the owner, nor learn which role serves another principal. Role names are
-- opaque, the mapping from role to principal is the owner's alone, head office is no member
-- of a store's role, and the server's own login role learns each principal's role but acts
-- for none. A DBA acts for a principal with mcp.bind_principal or SET ROLE.
-- (Savepoints undo a binding; they are issued through psql's \gexec because sqlfluff's
-- postgres dialect cannot parse SAVEPOINT, nor SET ROLE and SET SESSION AUTHORIZATION with a
-- psql variable, which go through \gexec as well.)
begin;
select plan(76);

-- Principals: Seattle f47ac10b-58cc-4372-a567-0e02b2c3d479 (store 1), Redmond
-- e7f8a9b0-c1d2-3e4f-5678-90abcdef1234 (store 6), head office 00000000-0000-0000-0000-000000000000.
-- Their roles, read from the mapping as the superuser, before anything switches role.
select known.role_name as seattle_role
from mcp_internal.principal_roles as known
where known.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gset
select known.role_name as redmond_role
from mcp_internal.principal_roles as known
where known.rls_user_id = 'e7f8a9b0-c1d2-3e4f-5678-90abcdef1234' \gset
select known.role_name as head_office_role
from mcp_internal.principal_roles as known
where known.rls_user_id = '00000000-0000-0000-0000-000000000000' \gset
select array_agg(store.store_id order by store.store_id)::text as all_store_ids
from retail.stores as store \gset

-- ---------------------------------------------------------------------------------------
-- The roles and the mapping, as the catalog shows them.
-- ---------------------------------------------------------------------------------------

select results_eq(
    'select rls_user_id from mcp_internal.principal_roles order by rls_user_id',
    $$
        select mcp_internal.head_office_principal() as rls_user_id
        union
        select rls_user_id from retail.stores
        order by rls_user_id
    $$,
    'head office and every store''s manager have exactly one role each in the mapping, and nobody else has one'
);
select is_empty(
    $$
        select known.role_name
        from mcp_internal.principal_roles as known
        where not exists (
            select from pg_catalog.pg_roles as role
            where role.rolname = known.role_name and role.rolcanlogin
        )
    $$,
    'every mapped role exists and may log in'
);
select is_empty(
    $$
        select known.role_name
        from mcp_internal.principal_roles as known
        where known.role_name !~ '^zava_p_[0-9a-f]{16}$'
    $$,
    'every principal role''s name is zava_p_ and 16 hex digits'
);
select is_empty(
    $$
        with principal (rls_user_id) as (
            select mcp_internal.head_office_principal()
            union
            select rls_user_id from retail.stores
        ),

        telltale (fragment) as (
            select left(replace(principal.rls_user_id::text, '-', ''), 8) from principal
            union
            select right(replace(principal.rls_user_id::text, '-', ''), 12) from principal
            union
            select lower(word.word)
            from retail.stores as store
            cross join regexp_split_to_table(store.store_name, '\s+') as word (word)
        )

        select format('%s contains %s', known.role_name, telltale.fragment)
        from mcp_internal.principal_roles as known
        cross join telltale
        where strpos(substr(known.role_name, 8), telltale.fragment) > 0
    $$,
    'the hex digits of a principal role''s name hold no part of any principal''s uuid and no word of any store''s name'
);
select is_empty(
    $$
        select known.role_name
        from mcp_internal.principal_roles as known
        inner join pg_catalog.pg_roles as role on known.role_name = role.rolname
        where pg_catalog.shobj_description(role.oid, 'pg_authid') is not null
    $$,
    'no principal role has a comment that could say whom it serves'
);
select is_empty(
    $$
        select known.role_name
        from mcp_internal.principal_roles as known
        inner join pg_catalog.pg_roles as role on known.role_name = role.rolname
        where
            array(select setting from unnest(role.rolconfig) as setting order by setting)
            is distinct from array['default_transaction_read_only=on', 'search_path=retail, public']
    $$,
    'every principal role logs in read-only (default_transaction_read_only) with retail first on its search_path, and has no other setting'
);
select is_empty(
    $$
        select known.role_name
        from mcp_internal.principal_roles as known
        inner join pg_catalog.pg_roles as role on known.role_name = role.rolname
        where
            role.rolsuper or role.rolbypassrls or role.rolcreaterole or role.rolcreatedb or role.rolreplication
            or not role.rolinherit or role.rolconnlimit < 1
    $$,
    'no principal role is a superuser, bypasses row level security, creates roles or databases or replicates; each inherits and has a connection limit'
);
select is_empty(
    $$
        select format('%s is not a member of zava_reader WITH INHERIT TRUE, SET FALSE', known.role_name)
        from mcp_internal.principal_roles as known
        where not exists (
            select from pg_catalog.pg_auth_members as membership
            where
                membership.member = to_regrole(known.role_name)
                and membership.roleid = to_regrole('zava_reader')
                and membership.inherit_option
                and not membership.set_option
                and not membership.admin_option
        )
        union all
        select format('%s is a member of %s', known.role_name, pg_catalog.pg_get_userbyid(membership.roleid))
        from mcp_internal.principal_roles as known
        inner join pg_catalog.pg_auth_members as membership on to_regrole(known.role_name) = membership.member
        where membership.roleid <> to_regrole('zava_reader')
    $$,
    'every principal role is a member of zava_reader WITH INHERIT TRUE, SET FALSE, and of no other role'
);
select is_empty(
    $$
        select format('%s may act as %s', known.role_name, other.rolname)
        from mcp_internal.principal_roles as known
        cross join pg_catalog.pg_roles as other
        where
            other.rolname <> known.role_name
            and (
                pg_catalog.pg_has_role(known.role_name, other.oid, 'set')
                or (pg_catalog.pg_has_role(known.role_name, other.oid, 'usage') and other.rolname <> 'zava_reader')
            )
    $$,
    'a principal role may SET ROLE to no other role and has the privileges of none but zava_reader (no other principal, the owner, the server, pg_read_all_stats, pg_signal_backend)'
);
select ok(
    not exists (
        select
        from mcp_internal.principal_roles as store_role
        where
            store_role.rls_user_id <> mcp_internal.head_office_principal()
            and pg_catalog.pg_has_role(:'head_office_role', store_role.role_name, 'member')
    ),
    'head office''s role is a member of no store manager''s role: it sees every store through the policies, not their roles'
);
select is_empty(
    $$
        select format('%s is a member of %s', pg_catalog.pg_get_userbyid(membership.member), known.role_name)
        from mcp_internal.principal_roles as known
        inner join pg_catalog.pg_auth_members as membership on to_regrole(known.role_name) = membership.roleid
        where
            pg_catalog.pg_get_userbyid(membership.member) in ('zava_server', 'zava_reader', 'zava_owner')
            or pg_catalog.pg_get_userbyid(membership.member) in (select role_name from mcp_internal.principal_roles)
    $$,
    'no principal role, nor zava_server, zava_reader or zava_owner, is a member of a principal role'
);
select is_empty(
    $$
        select format('%s inherits %s', pg_catalog.pg_get_userbyid(membership.member), known.role_name)
        from mcp_internal.principal_roles as known
        inner join pg_catalog.pg_auth_members as membership on to_regrole(known.role_name) = membership.roleid
        where membership.inherit_option
    $$,
    'whoever holds a principal role (the administrator, for mcp.bind_principal) inherits none of its privileges'
);
select is_empty(
    $$
        select known.role_name
        from mcp_internal.principal_roles as known
        where not exists (
            select from pg_catalog.pg_auth_members as membership
            where membership.roleid = to_regrole(known.role_name) and membership.set_option
        )
    $$,
    'every principal role has a member, the administrator, that may SET ROLE to it (mcp.bind_principal does)'
);
select is_empty(
    $$
        select format('%s on mcp_internal.principal_roles for %s', privilege, grantee.name)
        from (
            select 'zava_reader' as name
            union all
            select 'zava_server'
            union all
            select 'public'
            union all
            select role_name from mcp_internal.principal_roles
        ) as grantee
        cross join unnest(
            array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']
            || case when current_setting('server_version_num')::integer >= 170000 then array['maintain'] end
        ) as privilege
        where pg_catalog.has_table_privilege(grantee.name, 'mcp_internal.principal_roles', privilege)
    $$,
    'neither zava_reader, zava_server, PUBLIC nor any principal role has a privilege on mcp_internal.principal_roles: the mapping is the owner''s'
);
select is_empty(
    $$
        select format('%s on the database for %s', privilege, known.role_name)
        from mcp_internal.principal_roles as known
        cross join unnest(array['temporary', 'create']) as privilege
        where pg_catalog.has_database_privilege(known.role_name, current_database(), privilege)
    $$,
    'no principal role can create temporary objects or schemas in the database'
);

-- ---------------------------------------------------------------------------------------
-- As Seattle's own login role, as a tool call runs (the session user is that role).
-- ---------------------------------------------------------------------------------------

select format('set local session authorization %I', :'seattle_role') \gexec

select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'logged in as Seattle''s role, mcp.current_principal() is Seattle''s uuid: the login is the binding'
);
select is(
    mcp_internal.visible_store_ids(), array[1],
    'Seattle''s role may see store 1 only'
);
select is(
    (
        select count(*) from retail.orders
        where store_id <> 1
    ),
    0::bigint,
    'Seattle''s role sees no order of another store'
);
select lives_ok(
    $$select set_config('role', 'none', true)$$,
    'a query of Seattle''s may reset its role'
);
select is(
    current_user::text, :'seattle_role',
    'after resetting its role, the query is still Seattle''s role: there is nothing else to fall back to'
);
select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'after resetting its role, mcp.current_principal() is still Seattle''s uuid'
);
select is(
    (
        select count(*) from retail.orders
        where store_id <> 1
    ),
    0::bigint,
    'after resetting its role, the query still sees no order outside Seattle'
);
select throws_ok(
    $$select set_config('role', 'zava_reader', true)$$,
    '42501', 'permission denied to set role "zava_reader"',
    'Seattle''s role cannot SET ROLE to the reader it inherits from (its membership is WITH SET FALSE)'
);
select throws_ok(
    format($$select set_config('role', %L, true)$$, :'head_office_role'),
    '42501', format('permission denied to set role "%s"', :'head_office_role'),
    'Seattle''s role cannot switch to head office''s role'
);
select throws_ok(
    format($$select set_config('role', %L, true)$$, :'redmond_role'),
    '42501', format('permission denied to set role "%s"', :'redmond_role'),
    'Seattle''s role cannot switch to another store manager''s role'
);
select throws_ok(
    $$select set_config('role', 'zava_owner', true)$$,
    '42501', 'permission denied to set role "zava_owner"',
    'Seattle''s role cannot switch to the owner of the tables'
);
select throws_ok(
    $$select set_config('role', 'zava_server', true)$$,
    '42501', 'permission denied to set role "zava_server"',
    'Seattle''s role cannot switch to the server''s login role'
);
select throws_ok(
    'set role postgres',
    '42501', 'permission denied to set role "postgres"',
    'Seattle''s role cannot SET ROLE to the superuser'
);
select throws_ok(
    $$select mcp_internal.principal_role('00000000-0000-0000-0000-000000000000')$$,
    '42501', 'permission denied for function principal_role',
    'Seattle''s role cannot ask mcp_internal.principal_role which role is head office''s'
);
select throws_ok(
    $$select mcp.bind_principal('00000000-0000-0000-0000-000000000000')$$,
    '42501', 'permission denied for function bind_principal',
    'Seattle''s role cannot call mcp.bind_principal to switch to head office'
);
select is(
    mcp_internal.principal_of_role(:'head_office_role'), null,
    'mcp_internal.principal_of_role tells Seattle''s role nothing of head office''s role'
);
select is(
    mcp_internal.principal_of_role(:'redmond_role'), null,
    'mcp_internal.principal_of_role tells Seattle''s role nothing of another store manager''s role'
);
select is(
    mcp_internal.store_ids_of_role(:'head_office_role'), '{}'::integer[],
    'mcp_internal.store_ids_of_role tells Seattle''s role no store of head office''s role'
);
select is(
    mcp_internal.is_known_role(:'redmond_role'), false,
    'mcp_internal.is_known_role tells Seattle''s role nothing of another store manager''s role'
);
select throws_ok(
    'select * from mcp_internal.principal_roles',
    '42501', 'permission denied for table principal_roles',
    'Seattle''s role cannot read the mapping of roles to principals'
);
select throws_ok(
    $$update mcp_internal.principal_roles set rls_user_id = '00000000-0000-0000-0000-000000000000'
      where role_name = current_user$$,
    '42501', 'permission denied for table principal_roles',
    'Seattle''s role cannot map itself to head office'
);
select throws_ok(
    'select mcp_internal.login_role_problems()',
    '42501', 'permission denied for function login_role_problems',
    'Seattle''s role cannot call login_role_problems, which reads every principal role'
);
select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'after every attempt to switch, Seattle''s role still acts for Seattle'
);

reset session authorization;

-- ---------------------------------------------------------------------------------------
-- As head office's own login role.
-- ---------------------------------------------------------------------------------------

select format('set local session authorization %I', :'head_office_role') \gexec

select is(
    mcp.current_principal(), '00000000-0000-0000-0000-000000000000'::uuid,
    'head office''s role acts for head office'
);
select is(
    array(
        select distinct listed.id from unnest(mcp_internal.visible_store_ids()) as listed (id)
        order by listed.id
    )::text,
    :'all_store_ids',
    'head office''s role may see every store'
);
select is(
    cardinality(mcp_internal.visible_store_ids()), 27,
    'head office''s store list is padded to 27 ids, so that the policies'' array is stored unpacked'
);
select throws_ok(
    format($$select set_config('role', %L, true)$$, :'seattle_role'),
    '42501', format('permission denied to set role "%s"', :'seattle_role'),
    'head office''s role cannot switch to a store manager''s role'
);
select is(
    mcp_internal.principal_of_role(:'seattle_role'), null,
    'mcp_internal.principal_of_role tells head office''s role nothing of a store manager''s role either'
);

reset session authorization;

-- ---------------------------------------------------------------------------------------
-- As the server's own login role: it learns each principal's role and acts for none.
-- ---------------------------------------------------------------------------------------

set local session authorization zava_server;

select is(
    mcp.current_principal(), null,
    'the server''s login role acts for no principal'
);
select is(
    mcp_internal.principal_role('f47ac10b-58cc-4372-a567-0e02b2c3d479')::text, :'seattle_role',
    'the server''s login role learns Seattle''s role from mcp_internal.principal_role, to connect as it'
);
select is(
    mcp_internal.principal_role('11111111-1111-1111-1111-111111111111'), null,
    'an unknown principal has no role, so the server opens no connection for it'
);
select is(
    mcp_internal.principal_of_role(:'seattle_role'), null,
    'mcp_internal.principal_of_role tells the server''s login role nothing of a role it is no member of'
);
select throws_ok(
    'select * from mcp_internal.principal_roles',
    '42501', 'permission denied for table principal_roles',
    'the server''s login role cannot read the mapping itself'
);
select throws_ok(
    $$select set_config('role', 'zava_reader', true)$$,
    '42501', 'permission denied to set role "zava_reader"',
    'the server''s login role cannot SET ROLE to the reader'
);
select throws_ok(
    format($$select set_config('role', %L, true)$$, :'seattle_role'),
    '42501', format('permission denied to set role "%s"', :'seattle_role'),
    'the server''s login role cannot switch to a principal''s role inside its session'
);
select throws_ok(
    'select count(*) from retail.orders',
    '42501', 'permission denied for schema retail',
    'the server''s login role reads no retail data'
);
select throws_ok(
    $$select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479')$$,
    '42501', 'permission denied for function bind_principal',
    'the server''s login role cannot call mcp.bind_principal'
);
select is(
    mcp_internal.login_role_problems(), '{}'::text[],
    'mcp_internal.login_role_problems() finds nothing wrong with the server''s login role or any principal role'
);

reset session authorization;

-- ---------------------------------------------------------------------------------------
-- A login role that inherits the reader but is in no mapping (say, a principal role of
-- another database in the same cluster) acts for nobody and sees nothing.
-- ---------------------------------------------------------------------------------------

create role zava_test_unmapped login;
grant zava_reader to zava_test_unmapped with inherit true, set false;  -- noqa: PRS
set local session authorization zava_test_unmapped;

select is(
    mcp.current_principal(), null,
    'a login role that inherits the reader but is in no mapping acts for no principal'
);
select is(
    (select count(*) from retail.stores) + (select count(*) from retail.orders),
    0::bigint,
    'a login role that inherits the reader but is in no mapping sees no store and no order'
);

reset session authorization;

-- ---------------------------------------------------------------------------------------
-- The functions the policies stand on (SECURITY DEFINER, given a role or a principal),
-- as the superuser.
-- ---------------------------------------------------------------------------------------

select is(
    array(
        select distinct listed.id from unnest(mcp_internal.store_ids_of_role(:'head_office_role')) as listed (id)
        order by listed.id
    )::text,
    :'all_store_ids',
    'mcp_internal.store_ids_of_role gives head office''s role every store'
);
select is(
    mcp_internal.store_ids_of_role(:'seattle_role'), array[1],
    'mcp_internal.store_ids_of_role gives Seattle''s role store 1 only'
);
select is(
    mcp_internal.store_ids_of_role('zava_server'), '{}'::integer[],
    'mcp_internal.store_ids_of_role gives a role that acts for no principal no store'
);
select is(
    mcp_internal.store_ids_of_role(null), '{}'::integer[],
    'mcp_internal.store_ids_of_role gives a null role no store'
);
select results_eq(
    format(
        $$
            select mcp_internal.is_known_role(listed.role_name)
            from (values (1, %L::name), (2, %L::name), (3, 'zava_server'::name), (4, null::name))
                as listed (position, role_name)
            order by listed.position
        $$,
        :'head_office_role', :'seattle_role'
    ),
    $$ values (true), (true), (false), (false) $$,
    'mcp_internal.is_known_role is true for head office''s and a store manager''s role, false for a role that acts for no principal and for null'
);
select results_eq(
    $$
        select mcp_internal.is_known_principal(principal.id)
        from (
            values
            (1, '00000000-0000-0000-0000-000000000000'::uuid),
            (2, 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid),
            (3, '11111111-1111-1111-1111-111111111111'::uuid),
            (4, null::uuid)
        ) as principal (position, id)
        order by principal.position
    $$,
    $$ values (true), (true), (false), (false) $$,
    'mcp_internal.is_known_principal is true for head office and a store manager, false for an unknown principal and for null'
);
select is(
    mcp.current_principal(), null,
    'the superuser in its own role acts for no principal'
);

-- ---------------------------------------------------------------------------------------
-- A DBA acts for a principal with mcp.bind_principal (or SET ROLE to its role).
-- ---------------------------------------------------------------------------------------

select throws_ok(
    'select mcp.bind_principal(null)',
    '22004', 'mcp.bind_principal needs a principal (a uuid), not null',
    'binding a null principal is refused with a clear error'
);

select 'savepoint seattle_bound' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');

select is(
    current_user::text, :'seattle_role',
    'mcp.bind_principal switches a DBA to the principal''s own role'
);
select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'after binding Seattle, mcp.current_principal() is Seattle''s uuid'
);
select is(
    current_setting('transaction_read_only'), 'on',
    'after binding, the transaction is read-only'
);
select throws_ok(
    $$select set_config('transaction_read_only', 'off', true)$$,
    '25001', null,
    'a bound transaction cannot be made read-write again'
);
select is(
    (
        select count(*) from retail.orders
        where store_id <> 1
    ),
    0::bigint,
    'a DBA bound to Seattle sees no order of another store'
);
reset role;
select is(
    mcp.current_principal(), null,
    'a DBA who resets its role acts for no principal any more: the binding is the role, not a record'
);
select 'rollback to savepoint seattle_bound' \gexec

select is(
    current_user::text, session_user::text,
    'rolling back to a savepoint taken before the binding restores the DBA''s own role'
);
select is(
    current_setting('transaction_read_only'), 'off',
    'rolling back the binding makes the transaction read-write again'
);

select 'savepoint unknown_bound' \gexec
select mcp.bind_principal('11111111-1111-1111-1111-111111111111');

select is(
    current_user::text, 'zava_reader',
    'mcp.bind_principal switches a DBA to the bare reader role for an unknown principal'
);
select is(
    (select count(*) from retail.stores) + (select count(*) from retail.orders),
    0::bigint,
    'bound to an unknown principal, a DBA sees no store and no order'
);
select 'rollback to savepoint unknown_bound' \gexec

select 'savepoint redmond_role' \gexec
select format('set local role %I', :'redmond_role') \gexec

select is(
    mcp.current_principal(), 'e7f8a9b0-c1d2-3e4f-5678-90abcdef1234'::uuid,
    'SET ROLE to Redmond''s role is the DBA''s other way to act for Redmond'
);
select is(
    (
        select count(*) from retail.orders
        where store_id <> 6
    ),
    0::bigint,
    'a DBA in Redmond''s role sees no order outside Redmond'
);
select 'rollback to savepoint redmond_role' \gexec

-- Last, and outside any savepoint: pgTAP counts results in a temp table that ROLLBACK TO
-- SAVEPOINT rolls back too, and finish() reads the count of the last assertion that survived.
select is(
    mcp.current_principal(), null,
    'back in its own role after the savepoints, the DBA acts for no principal'
);

select * from finish();
rollback;
