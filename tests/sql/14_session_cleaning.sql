-- mcp_internal.clean_session, which the server runs after every call once its
-- transaction has rolled back: what a call could leave in its session is gone before the
-- connection serves the principal's next call. Everything is left here as Seattle's
-- manager's role, as a call would, then cleaned in one call. pgTAP keeps its plan and
-- results in temporary tables, which the cleaning drops (and a principal's role cannot
-- create): the plan comes after the cleaning, back as the superuser. (Statements sqlfluff
-- cannot parse go through psql's \gexec.)
begin;

select mcp_internal.principal_role('f47ac10b-58cc-4372-a567-0e02b2c3d479')::text as seattle_role \gset
select format('set local role %I', :'seattle_role') \gexec
select 'declare held_cursor cursor with hold for select 1' \gexec
select 'declare open_cursor cursor for select 2' \gexec
prepare left_statement as select 3;
listen left_channel;
select pg_advisory_lock(4242);
set work_mem = '77MB';

select mcp_internal.clean_session();
select current_user::text as role_after_cleaning \gset
reset role;

select plan(6);

select is(
    (select count(*) from pg_catalog.pg_cursors)::integer, 0,
    'clean_session closes every cursor, WITH HOLD ones included'
);
select is(
    (select count(*) from pg_catalog.pg_prepared_statements)::integer, 0,
    'clean_session deallocates prepared statements'
);
select is(
    (select count(*) from pg_catalog.pg_listening_channels())::integer, 0,
    'clean_session stops listening'
);
select is(
    (
        select count(*) from pg_catalog.pg_locks
        where locktype = 'advisory' and pid = pg_catalog.pg_backend_pid()
    )::integer, 0,
    'clean_session releases session advisory locks'
);
select isnt(
    pg_catalog.current_setting('work_mem'), '77MB',
    'clean_session resets settings'
);
select is(
    :'role_after_cleaning'::text, :'seattle_role'::text,
    'clean_session leaves the role the call runs as'
);

select * from finish();
rollback;
