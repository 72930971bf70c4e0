-- The principal binding (db/schema/30_principal_bindings.sql, mcp.bind_principal,
-- mcp.current_principal, mcp_internal.record_binding): a transaction acts for the principal
-- it bound, and for nobody else; binding makes it read-only and switches it to the reader
-- role; a rollback undoes all of it; a binding of another transaction or backend never
-- counts; the reader cannot read, write or make a binding, and a bound query cannot rebind
-- itself, not even after resetting its role to the server's login role.
-- (Savepoints undo a binding; they are issued through psql's \gexec because sqlfluff's
-- postgres dialect cannot parse SAVEPOINT.)
begin;
select plan(36);

-- Principals: Seattle f47ac10b-58cc-4372-a567-0e02b2c3d479 (store 1), Redmond
-- e7f8a9b0-c1d2-3e4f-5678-90abcdef1234 (store 6), head office 00000000-0000-0000-0000-000000000000.

-- Nothing bound yet.
select is(
    mcp.current_principal(), null,
    'with no principal bound, mcp.current_principal() is null'
);

-- Privileges on the binding itself.
select table_privs_are(
    'mcp_internal', 'principal_bindings', 'zava_reader', array[]::text[],
    'the reader has no privilege at all on the bindings table'
);
select table_privs_are(
    'mcp_internal', 'principal_bindings', 'zava_server', array[]::text[],
    'the login role has no privilege on the bindings table: it writes it only through record_binding'
);

set local role zava_reader;
select throws_ok(
    'select * from mcp_internal.principal_bindings',
    '42501', 'permission denied for table principal_bindings',
    'the reader cannot read the bindings table'
);
select throws_ok(
    $$insert into mcp_internal.principal_bindings (backend_pid, transaction_id, rls_user_id)
      values (pg_backend_pid(), pg_current_xact_id(), '00000000-0000-0000-0000-000000000000')$$,
    '42501', 'permission denied for table principal_bindings',
    'the reader cannot write a binding row of its own'
);
select throws_ok(
    $$select mcp_internal.record_binding('00000000-0000-0000-0000-000000000000')$$,
    '42501', 'permission denied for function record_binding',
    'the reader cannot execute mcp_internal.record_binding'
);
select throws_ok(
    $$select mcp.bind_principal('00000000-0000-0000-0000-000000000000')$$,
    '42501', 'permission denied for function bind_principal',
    'the reader cannot execute mcp.bind_principal'
);
reset role;

select throws_ok(
    'select mcp.bind_principal(null)',
    '22004', 'mcp.bind_principal needs a principal (a uuid), not null',
    'binding a null principal is refused with a clear error'
);

-- Bind Seattle inside a savepoint, look, and roll the binding back.
select 'savepoint seattle_bound' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');

select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'after binding Seattle, mcp.current_principal() is Seattle''s uuid'
);
select is(
    current_user::text, 'zava_reader',
    'after binding, the transaction runs as the reader role'
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

-- Even the superuser, back in its own role, cannot rebind a read-only transaction.
reset role;
select throws_ok(
    $$select mcp_internal.record_binding('00000000-0000-0000-0000-000000000000')$$,
    '25006', 'cannot execute INSERT in a read-only transaction',
    'record_binding fails in a read-only transaction, so a bound transaction cannot be rebound'
);
select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'after the failed rebind the transaction still acts for Seattle'
);

select 'rollback to savepoint seattle_bound' \gexec

select is(
    mcp.current_principal(), null,
    'rolling back to a savepoint taken before the binding undoes the binding'
);
select is(
    current_user::text, 'postgres',
    'rolling back the binding restores the role the transaction had before'
);
select is(
    current_setting('transaction_read_only'), 'off',
    'rolling back the binding makes the transaction read-write again'
);
select is(
    (
        select count(*) from mcp_internal.principal_bindings
        where backend_pid = pg_backend_pid() and transaction_id = pg_current_xact_id()
    ),
    0::bigint,
    'rolling back the binding leaves no binding row of this transaction'
);

-- A binding row of an earlier transaction of this backend (as left by a committed
-- transaction, or a call outside a transaction block) is ignored.
select 'savepoint stale_binding' \gexec
insert into mcp_internal.principal_bindings (backend_pid, transaction_id, rls_user_id)
values (
    pg_backend_pid(),
    ((pg_current_xact_id()::text::bigint - 1)::text)::xid8,
    '00000000-0000-0000-0000-000000000000'
)
on conflict (backend_pid) do update
    set
        transaction_id = excluded.transaction_id,
        rls_user_id = excluded.rls_user_id;

select is(
    mcp.current_principal(), null,
    'a head office binding committed by an earlier transaction of this backend is ignored'
);
set local role zava_reader;
select is(
    (select count(*) from retail.orders), 0::bigint,
    'a reader whose backend holds only an earlier transaction''s head office binding sees no orders'
);
reset role;

-- Binding replaces the stale row of this backend.
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');
select is(
    mcp.current_principal(), 'f47ac10b-58cc-4372-a567-0e02b2c3d479'::uuid,
    'binding over an earlier transaction''s row of this backend makes the transaction act for the new principal'
);
select 'rollback to savepoint stale_binding' \gexec

-- A binding row of another backend that carries this transaction's id is ignored. The pid
-- is beyond any real process id (Linux caps pids at 2^22), so no live backend owns it.
select 'savepoint other_backend' \gexec
insert into mcp_internal.principal_bindings (backend_pid, transaction_id, rls_user_id)
values (pg_backend_pid() + 4194304, pg_current_xact_id(), '00000000-0000-0000-0000-000000000000')
on conflict (backend_pid) do update
    set
        transaction_id = excluded.transaction_id,
        rls_user_id = excluded.rls_user_id;

select is(
    mcp.current_principal(), null,
    'a head office binding of another backend is ignored even when it carries this transaction''s id'
);
set local role zava_reader;
select is(
    (select count(*) from retail.orders), 0::bigint,
    'a reader sees no orders through another backend''s binding'
);
reset role;
select 'rollback to savepoint other_backend' \gexec

-- The server's login role binds and ends as the reader.
select 'savepoint server_binds' \gexec
set local role zava_server;
select lives_ok(
    $$select mcp.bind_principal('e7f8a9b0-c1d2-3e4f-5678-90abcdef1234')$$,
    'the server''s login role may bind a principal'
);
select is(
    current_user::text, 'zava_reader',
    'after the login role binds, the transaction runs as the reader role'
);
select is(
    mcp.current_principal(), 'e7f8a9b0-c1d2-3e4f-5678-90abcdef1234'::uuid,
    'the login role''s binding makes the transaction act for Redmond'
);
select 'rollback to savepoint server_binds' \gexec

-- A session logged in as the server's login role (session_user zava_server, as in
-- production) binds Redmond; then the query attacks its own binding.
select 'savepoint server_session' \gexec
set local session authorization zava_server;
select mcp.bind_principal('e7f8a9b0-c1d2-3e4f-5678-90abcdef1234');

select throws_ok(
    $$select set_config('role', 'postgres', true)$$,
    '42501', 'permission denied to set role "postgres"',
    'a bound query cannot switch to the superuser'
);
select throws_ok(
    $$select set_config('role', 'zava_owner', true)$$,
    '42501', 'permission denied to set role "zava_owner"',
    'a bound query cannot switch to the owner of the tables'
);
select lives_ok(
    $$select set_config('role', 'zava_server', true)$$,
    'a bound query may reset its role to the login role it runs under'
);
select is(
    current_user::text, 'zava_server',
    'after resetting its role, the query runs as the login role'
);
select throws_ok(
    'select count(*) from retail.orders',
    '42501', 'permission denied for schema retail',
    'the login role inherits nothing from the reader: a query that resets its role reads no retail data'
);
select throws_ok(
    $$select mcp_internal.record_binding('00000000-0000-0000-0000-000000000000')$$,
    '25006', 'cannot execute INSERT in a read-only transaction',
    'a query that resets its role to the login role cannot record a head office binding'
);
select throws_ok(
    $$select mcp.bind_principal('00000000-0000-0000-0000-000000000000')$$,
    '25006', 'cannot execute INSERT in a read-only transaction',
    'a query that resets its role to the login role cannot rebind itself to head office'
);
select is(
    mcp.current_principal(), 'e7f8a9b0-c1d2-3e4f-5678-90abcdef1234'::uuid,
    'after every attack the transaction still acts for Redmond'
);
set local role zava_reader;
select is(
    (
        select count(*) from retail.orders
        where store_id <> 6
    ),
    0::bigint,
    'back in the reader role, the query still sees no order outside Redmond'
);
select 'rollback to savepoint server_session' \gexec

select is(
    session_user::text, 'postgres',
    'rolling back to the savepoint restores the session user'
);

select * from finish();
rollback;
