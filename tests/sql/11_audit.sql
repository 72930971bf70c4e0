-- The audit trail: the server's login role appends records through
-- mcp_internal.record_audit; a store manager's role can neither read nor write the log;
-- head office's role reads it through mcp.audit_log, a store manager's cannot, not even by
-- naming head office's role to mcp_internal.audit_entries. (Seattle's manager logs in as
-- its own role, as a tool call does; head office is taken with the DBA's
-- mcp.bind_principal.)
begin;
select plan(10);

select count(*) as audit_rows_before from mcp_internal.audit_log \gset

set local role zava_server;
select lives_ok(
    $$select mcp_internal.record_audit('[
        {"called_at": "2026-11-24T10:00:00Z", "request_id": "test-1", "rls_user_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
         "tool": "execute_sales_query", "query_sha256": "abc", "query_text": "select 1", "duration_ms": 3.5,
         "row_count": 1, "outcome": "ok", "error_class": null},
        {"called_at": "2026-11-24T10:00:01Z", "request_id": "test-2", "rls_user_id": null,
         "tool": "list_tables", "duration_ms": 0.4, "outcome": "unauthenticated", "error_class": "IdentityError"}
    ]'::jsonb)$$,
    'the login role appends a batch of audit records'
);
select throws_ok(
    'select count(*) from mcp_internal.audit_log',
    '42501',
    'permission denied for table audit_log',
    'the login role cannot read the audit log directly'
);
reset role;

select is(
    (select count(*) from mcp_internal.audit_log) - :audit_rows_before,
    2::bigint,
    'both records were written'
);
select is(
    (
        select left(query_text, 10) from mcp_internal.audit_log
        where request_id = 'test-1'
    ),
    'select 1',
    'the query text is kept'
);

select known.role_name as head_office_role
from mcp_internal.principal_roles as known
where known.rls_user_id = '00000000-0000-0000-0000-000000000000' \gset

select 'savepoint as_seattle' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gexec
select throws_ok(
    'select count(*) from mcp_internal.audit_log',
    '42501',
    'permission denied for table audit_log',
    'a store manager''s role cannot read the audit log table'
);
select throws_ok(
    $$select mcp_internal.record_audit('[]')$$,
    '42501',
    'permission denied for function record_audit',
    'a store manager''s role cannot write the audit log'
);
select throws_ok(
    'select * from mcp.audit_log()',
    '42501',
    'only head office may read the audit log',
    'a store manager cannot read the audit log'
);
select throws_ok(
    format($$select count(*) from mcp_internal.audit_entries(%L, null, 10)$$, :'head_office_role'),
    '42501',
    'only head office may read the audit log',
    'a store manager who names head office''s role to mcp_internal.audit_entries is refused all the same'
);
select 'rollback to savepoint as_seattle' \gexec

select 'savepoint as_head_office' \gexec
select mcp.bind_principal('00000000-0000-0000-0000-000000000000');
select is(
    (
        mcp.run_query(
            'select tool, store_name, outcome from mcp.audit_log(''2026-11-24'') where request_id = ''test-1'''
        )::jsonb -> 'rows'
    ),
    '[["execute_sales_query", "Zava Retail Seattle", "ok"]]'::jsonb,
    'head office reads the audit log through run_query, with the caller''s store named'
);
select 'rollback to savepoint as_head_office' \gexec

select is(
    (
        select count(*) from mcp_internal.audit_log
        where request_id in ('test-1', 'test-2')
    ),
    2::bigint,
    'the owner still sees both records'
);

select * from finish();
rollback;
