-- Roles. Applied first, as the administrator that runs `zava-mcp db init`.
--
--   {{ owner }}   owns every object; nobody logs in as it.
--   {{ login }}   the server's own login role: it checks API keys, writes the audit trail
--                 and learns each principal's role; it reads no retail table and runs no
--                 caller's SQL.
--   {{ reader }}  the privileges of a tool call: SELECT on retail, EXECUTE on the mcp API,
--                 no TEMP, no CREATE, no BYPASSRLS, not the owner. Nobody logs in as it:
--                 every principal has a login role of its own that inherits it
--                 (db/principal_roles.sql), and tool calls connect as those.
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

-- Earlier versions let the login role SET ROLE to the reader for every call; tool calls
-- now log in as their principal's own role, and the server's role keeps out of them.
do $login_membership$
begin
    if pg_has_role('{{ login }}', '{{ reader }}', 'member') then
        revoke {{ reader }} from {{ login }};
    end if;
end
$login_membership$;

-- The administrator builds objects as the owner (on managed PostgreSQL the administrator
-- is not a superuser and needs the membership to SET ROLE), and may switch to the reader
-- (inheriting nothing), which mcp.bind_principal gives a DBA for an unknown principal.
grant {{ owner }} to current_user with set true;  -- noqa: PRS
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

-- PostgreSQL lets everyone execute a few functions that matter here: pg_logical_emit_message
-- writes WAL even in a read-only transaction, and pg_cancel_backend/pg_terminate_backend
-- signal any backend of the caller's own role. Callers are kept apart without this (each
-- principal logs in as its own role, and PostgreSQL refuses to signal another role's
-- backend), but where a superuser builds the database it revokes them from PUBLIC as well.
-- Only a superuser may; without one, say what the operator may do.
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
        raise notice 'not a superuser: pg_logical_emit_message stays executable by everyone (it writes WAL, not data)'
            using hint = 'A superuser may REVOKE EXECUTE on it FROM PUBLIC in this database; see docs/security.md.';
    end if;
end
$public_functions$;
