-- Roles. Applied first, as the administrator that runs `zava-mcp db init`.
--
--   {{ owner }}   owns every object; nobody logs in as it.
--   {{ login }}   the server's login role: it may bind a principal for one transaction and
--                 switch into {{ reader }}, nothing else (it inherits no privileges).
--   {{ reader }}  what a tool call runs as: SELECT on retail, EXECUTE on the mcp API,
--                 no TEMP, no CREATE, no BYPASSRLS, not the owner.
-- Every object-level GRANT and REVOKE lives in db/privileges.sql; function EXECUTE is
-- granted at the end of each function's own file.

do $roles$
declare
    unsafe text;
begin
    if not exists (select from pg_catalog.pg_roles where rolname = '{{ owner }}') then
        create role {{ owner }} nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = '{{ reader }}') then
        create role {{ reader }} nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = '{{ login }}') then
        create role {{ login }} login;
    end if;
    -- A role that existed before may carry attributes that break the guarantees. Only a
    -- superuser could remove some of them, so refuse rather than try.
    select string_agg(format('%I', rolname), ', ')
    into unsafe
    from pg_catalog.pg_roles
    where
        rolname in ('{{ owner }}', '{{ reader }}', '{{ login }}')
        and (rolsuper or rolbypassrls or rolcreaterole or rolcreatedb or rolreplication);
    if unsafe is not null then
        raise exception 'roles % must not be superusers or have BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION', unsafe
            using hint = 'Remove those attributes (ALTER ROLE ... NOSUPERUSER NOBYPASSRLS ...), then run db init again.';
    end if;
end
$roles$;

-- Who may log in: only the server's role.
alter role {{ owner }} nologin;
alter role {{ reader }} nologin;
alter role {{ login }} login;
alter role {{ login }} set search_path = retail, public;

-- The login role may SET ROLE to the reader but inherits none of its privileges: a query
-- that resets its role with set_config('role', 'none', true) is left with nothing.
grant {{ reader }} to {{ login }} with inherit false, set true;  -- noqa: PRS

-- The administrator builds objects as the owner (on managed PostgreSQL the administrator
-- is not a superuser and needs the membership to SET ROLE), and may switch to the reader
-- (inheriting nothing), so that mcp.bind_principal works for a DBA there too.
grant {{ owner }} to current_user with set true;
grant {{ reader }} to current_user with inherit false, set true;  -- noqa: PRS

-- The owner creates the schemas. Nobody gets temporary objects in this database by
-- default: the reader must not be able to create a temporary function or table.
do $database$
begin
    execute format('grant create on database %I to {{ owner }}', current_database());
    execute format('revoke temporary on database %I from public', current_database());
end
$database$;

create extension if not exists vector;

-- PostgreSQL lets everyone execute a few functions that matter here. A query may reset its
-- role to the login role, which every pooled connection shares, and then cancel or
-- terminate the other callers' queries (pg_cancel_backend, pg_terminate_backend); and
-- pg_logical_emit_message writes WAL even in a read-only transaction. Only a superuser
-- may revoke them from PUBLIC; without one, say what the operator should do.
do $public_functions$
declare
    target regprocedure;
begin
    if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        for target in
            select function_.oid::regprocedure
            from pg_catalog.pg_proc as function_
            where
                function_.pronamespace = 'pg_catalog'::regnamespace
                and function_.proname in ('pg_cancel_backend', 'pg_terminate_backend', 'pg_logical_emit_message')
        loop
            execute format('revoke execute on function %s from public', target);
        end loop;
    else
        raise warning 'not a superuser: pg_cancel_backend, pg_terminate_backend and pg_logical_emit_message stay executable by everyone'
            using hint = 'Ask a superuser (or the service) to REVOKE EXECUTE on them FROM PUBLIC in this database; see docs/security.md.';
    end if;
end
$public_functions$;
