-- mcp_internal.login_role_problems() -> text[]
--
-- Why the server must not serve tool calls with these roles; empty when it may. It checks
-- the server's login role (the session user) and every principal's login role: none may
-- be a superuser, bypass row level security, create roles or databases, replicate, own
-- retail tables or have the owner's privileges, SET ROLE to any other role, or have the
-- privileges of a principal's role or of a role that reads other sessions' statements,
-- signals them or reads the server's files. The server calls it at start-up and refuses
-- to start on any problem. SECURITY DEFINER: only the owner reads the principals' roles.
set role {{ owner }};

create or replace function mcp_internal.login_role_problems()
returns text[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
return (
    with checked as (
        select login.*
        from pg_roles as login
        where
            login.rolname = session_user
            or login.rolname in (select known.role_name from mcp_internal.principal_roles as known)
    ),

    watched as (
        select
            other.oid,
            other.rolname
        from pg_roles as other
        where
            other.rolname in (select known.role_name from mcp_internal.principal_roles as known)
            or other.rolname in (
                'pg_read_all_stats', 'pg_signal_backend', 'pg_monitor', 'pg_read_all_data',
                'pg_write_all_data', 'pg_read_server_files', 'pg_write_server_files',
                'pg_execute_server_program'
            )
    ),

    problems as (
        select
            checked.rolname,
            'is a superuser (row level security does not apply to it)' as problem
        from checked
        where checked.rolsuper
        union all
        select
            checked.rolname,
            'has BYPASSRLS' as problem
        from checked
        where checked.rolbypassrls
        union all
        select
            checked.rolname,
            'may create roles or databases' as problem
        from checked
        where checked.rolcreaterole or checked.rolcreatedb
        union all
        select
            checked.rolname,
            'has REPLICATION' as problem
        from checked
        where checked.rolreplication
        union all
        select
            checked.rolname,
            'owns retail tables (owners bypass row level security)' as problem
        from checked
        where
            exists (
                select from pg_class as class
                where class.relnamespace = 'retail'::regnamespace and class.relowner = checked.oid
            )
        union all
        select
            checked.rolname,
            'has the privileges of {{ owner }}' as problem
        from checked
        where pg_has_role(checked.oid, '{{ owner }}', 'usage')
        union all
        select
            checked.rolname,
            format('may SET ROLE to %I', other.rolname) as problem
        from checked
        inner join pg_roles as other
            on checked.oid <> other.oid and pg_has_role(checked.oid, other.oid, 'set')
        union all
        select
            checked.rolname,
            format('has the privileges of %I', watched.rolname) as problem
        from checked
        inner join watched
            on checked.oid <> watched.oid and pg_has_role(checked.oid, watched.oid, 'usage')
    )

    select
        coalesce(
            array_agg(format('%I %s', problems.rolname, problems.problem) order by problems.rolname, problems.problem),
            '{}'
        )
    from problems
    -- A superuser is told that alone: everything else follows from it.
    where
        problems.problem like 'is a superuser%'
        or problems.rolname not in (
            select checked.rolname from checked
            where checked.rolsuper
        )
);

comment on function mcp_internal.login_role_problems() is
'Reasons the server''s login role or a principal''s role must not serve tool calls (superuser, BYPASSRLS, owner, may act as another role, ...); empty when they are fit.';

grant execute on function mcp_internal.login_role_problems() to {{ login }};

reset role;
