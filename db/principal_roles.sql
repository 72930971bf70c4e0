-- One LOGIN role per principal: head office and every store's manager. Applied by the
-- administrator (it needs CREATEROLE) at the end of `zava-mcp db init` and after seeding,
-- so a store added since the last run gets its manager's role; safe to run again.
--
-- A principal role
--   * is a member of {{ reader }} WITH INHERIT TRUE, SET FALSE: it reads what the reader
--     reads, under the policies, and cannot SET ROLE to anything; resetting its role
--     (set_config('role', 'none', true)) leaves a caller as itself;
--   * is nobody else's member: head office is not a member of store roles, and no
--     principal has the privileges of another, so pg_stat_activity shows no other
--     principal's statements and pg_cancel_backend/pg_terminate_backend refuse them;
--   * has an opaque name, created in random order (role oids follow creation order), and
--     no comment, so that pg_roles, pg_stat_activity.usename and pg_locks say nothing of
--     whom a backend serves (a store added later gets a newer role than the others: its
--     oid tells that it is the newest, not which store it is);
--   * is limited to {{ principal_connection_limit }} connections across all servers;
--   * has no password here: on a server that needs one, `infra/docker/set_login_password.py`
--     gives it the one the server derives from its own (see docs/security.md).
-- The administrator becomes a member WITH INHERIT FALSE, SET TRUE, so a DBA may
-- `set role` to a principal (mcp.bind_principal does) without gaining its privileges.
do $principal_roles$
declare
    principal uuid;
    new_role text;
    existing text;
begin
    for principal in
        select candidate.principal
        from (
            -- Head office only together with the stores: created alone, before any store,
            -- its role would be the oldest, and oids are visible to everyone.
            select mcp_internal.head_office_principal() as principal
            where exists (select from retail.stores)
            union
            select store.rls_user_id from retail.stores as store
        ) as candidate
        where
            candidate.principal is not null
            and not exists (
                select from mcp_internal.principal_roles as known
                where known.rls_user_id = candidate.principal
            )
        order by random()
    loop
        new_role := 'zava_p_' || left(replace(gen_random_uuid()::text, '-', ''), 16);
        execute format('create role %I login', new_role);
        insert into mcp_internal.principal_roles (role_name, rls_user_id) values (new_role, principal);
    end loop;

    for existing in select known.role_name from mcp_internal.principal_roles as known loop
        -- New roles have none of SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS;
        -- one that gained any is refused below (only a superuser could remove some).
        execute format(
            'alter role %I login inherit connection limit %s',
            existing, {{ principal_connection_limit }}
        );
        execute format('alter role %I set search_path = retail, public', existing);
        execute format('alter role %I set default_transaction_read_only = on', existing);
        execute format('grant {{ reader }} to %I with inherit true, set false', existing);
        execute format('grant %I to current_user with inherit false, set true', existing);
    end loop;

    select string_agg(format('%I', login.rolname), ', ')
    into existing
    from pg_catalog.pg_roles as login
    inner join mcp_internal.principal_roles as known on login.rolname = known.role_name
    where login.rolsuper or login.rolbypassrls or login.rolcreaterole or login.rolcreatedb or login.rolreplication;
    if existing is not null then
        raise exception 'principal roles % must not be superusers or have BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION', existing
            using hint = 'Remove those attributes (ALTER ROLE ... NOSUPERUSER NOBYPASSRLS ...), then run db init again.';
    end if;
end
$principal_roles$;
