-- Privileges: the three roles' attributes and memberships, what each role (and PUBLIC)
-- may do with the schemas, tables, database and functions, that every principal's login
-- role may do exactly what the reader may, and that server files and other databases are
-- out of their reach (DESIGN.md properties 2, 3, 8 and 10). The principal roles' own
-- attributes and memberships are in 03_principal_roles.sql.
-- Catalog checks only: nothing here acts for a principal or reads data.
--
-- PUBLIC is not a row of pg_roles. The has_*_privilege functions accept the name
-- 'public' (lower case) for it, and in an ACL it is grantee 0. A function whose proacl is
-- null has the default privileges, which include EXECUTE for PUBLIC: reading
-- aclexplode(proacl) alone would miss that, so these checks ask has_function_privilege.
begin;
select plan(45);

-- The roles that run statements for someone else: the reader, the server's login role and
-- every principal's login role.
create temp view query_roles as
select 'zava_reader'::text as name
union all
select 'zava_server'
union all
select known.role_name::text from mcp_internal.principal_roles as known;

-- Role attributes

select is_empty(
    $$
        select role.rolname
        from pg_catalog.pg_roles as role
        where
            role.rolname in ('zava_owner', 'zava_reader', 'zava_server')
            and role.rolsuper
    $$,
    'None of zava_owner, zava_reader and zava_server is a superuser'
);
select is_empty(
    $$
        select format(
            '%s:%s%s%s%s', role.rolname,
            case when role.rolbypassrls then ' bypassrls' else '' end,
            case when role.rolcreaterole then ' createrole' else '' end,
            case when role.rolcreatedb then ' createdb' else '' end,
            case when role.rolreplication then ' replication' else '' end
        )
        from pg_catalog.pg_roles as role
        where
            role.rolname in ('zava_owner', 'zava_reader', 'zava_server')
            and (role.rolbypassrls or role.rolcreaterole or role.rolcreatedb or role.rolreplication)
    $$,
    'None of the three roles can bypass row level security, create roles or databases, or replicate'
);
select results_eq(
    $$
        select role.rolname::text collate "default", role.rolcanlogin
        from pg_catalog.pg_roles as role
        where role.rolname in ('zava_owner', 'zava_reader', 'zava_server')
        order by role.rolname
    $$,
    $$ values ('zava_owner', false), ('zava_reader', false), ('zava_server', true) $$,
    'Of the three, only zava_server can log in; nobody logs in as the owner or the reader (tool calls log in as principal roles)'
);

-- Memberships: the server's login role is a member of nothing; it runs no caller's SQL

select is_empty(
    $$
        select pg_catalog.pg_get_userbyid(membership.roleid)
        from pg_catalog.pg_auth_members as membership
        where membership.member = (select role.oid from pg_catalog.pg_roles as role where role.rolname = 'zava_server')
    $$,
    'zava_server is a member of no role: it can SET ROLE neither to the reader nor to a principal, and inherits nothing'
);
select ok(
    not pg_catalog.pg_has_role('zava_server', 'zava_owner', 'member'),
    'zava_server is not a member of zava_owner, directly or indirectly'
);
select is_empty(
    $$
        select pg_catalog.pg_get_userbyid(membership.roleid)
        from pg_catalog.pg_auth_members as membership
        where membership.member = (select role.oid from pg_catalog.pg_roles as role where role.rolname = 'zava_reader')
    $$,
    'zava_reader is a member of no role (not of the owner, nor of pg_read_server_files and the like)'
);

-- Ownership: the roles that run queries own nothing

select is_empty(
    $$
        select format('relation %s', class.oid::regclass)
        from pg_catalog.pg_class as class
        where pg_catalog.pg_get_userbyid(class.relowner) in (select runner.name from pg_temp.query_roles as runner)
        union all
        select format('function %s', function_.oid::regprocedure)
        from pg_catalog.pg_proc as function_
        where pg_catalog.pg_get_userbyid(function_.proowner) in (select runner.name from pg_temp.query_roles as runner)
        union all
        select format('schema %I', namespace.nspname)
        from pg_catalog.pg_namespace as namespace
        where pg_catalog.pg_get_userbyid(namespace.nspowner) in (select runner.name from pg_temp.query_roles as runner)
    $$,
    'zava_reader, zava_server and the principal roles own no table, function or schema, so row level security always applies to them'
);

-- Schemas

select schema_privs_are(
    'retail', 'zava_reader', array['USAGE']::name[],
    'zava_reader may use schema retail but not create objects in it'
);
select schema_privs_are(
    'mcp', 'zava_reader', array['USAGE']::name[],
    'zava_reader may use schema mcp but not create objects in it'
);
select schema_privs_are(
    'mcp_internal', 'zava_reader', array['USAGE']::name[],
    'zava_reader may use schema mcp_internal (the helpers the policies call) but not create objects in it'
);
select schema_privs_are(
    'public', 'zava_reader', array['USAGE']::name[],
    'zava_reader may use schema public (where pgvector lives) but not create objects in it'
);
select is_empty(
    $$
        select format('%s on schema %s', privilege, schema_name)
        from unnest(array['retail', 'mcp', 'mcp_internal']) as schema_name
        cross join unnest(array['usage', 'create']) as privilege
        where pg_catalog.has_schema_privilege('public', schema_name, privilege)
    $$,
    'PUBLIC has no privilege on schemas retail, mcp and mcp_internal'
);

-- Tables

select table_privs_are(
    'retail', 'stores', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.stores'
);
select table_privs_are(
    'retail', 'customers', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.customers'
);
select table_privs_are(
    'retail', 'categories', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.categories'
);
select table_privs_are(
    'retail', 'product_types', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.product_types'
);
select table_privs_are(
    'retail', 'products', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.products'
);
select table_privs_are(
    'retail', 'inventory', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.inventory'
);
select table_privs_are(
    'retail', 'orders', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.orders'
);
select table_privs_are(
    'retail', 'order_items', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.order_items'
);
select table_privs_are(
    'retail', 'product_description_embeddings', 'zava_reader', array['SELECT']::name[],
    'zava_reader may only SELECT from retail.product_description_embeddings'
);

-- table_privs_are does not know MAINTAIN (PostgreSQL 17+, which allows LOCK TABLE) nor
-- sequences, so the checks below list every privilege over every relation themselves.
select is_empty(
    $$
        select format('%s on %s', privilege, class.oid::regclass)
        from pg_catalog.pg_class as class
        cross join unnest(
            array['insert', 'update', 'delete', 'truncate', 'references', 'trigger']
            || case when current_setting('server_version_num')::integer >= 170000 then array['maintain'] end
        ) as privilege
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
            and pg_catalog.has_table_privilege('zava_reader', class.oid, privilege)
    $$,
    'Beyond SELECT, zava_reader has no privilege on any retail table or sequence'
);
select is_empty(
    $$
        select format('%s on %s', privilege, class.oid::regclass)
        from pg_catalog.pg_class as class
        cross join unnest(
            array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']
            || case when current_setting('server_version_num')::integer >= 170000 then array['maintain'] end
        ) as privilege
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
            and pg_catalog.has_table_privilege('zava_server', class.oid, privilege)
    $$,
    'zava_server has no privilege on any retail table: it never reads retail data'
);
select is_empty(
    $$
        select format('%s on %s', privilege, class.oid::regclass)
        from pg_catalog.pg_class as class
        cross join unnest(
            array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']
            || case when current_setting('server_version_num')::integer >= 170000 then array['maintain'] end
        ) as privilege
        where
            class.relnamespace in (to_regnamespace('retail'), to_regnamespace('mcp_internal'))
            and class.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
            and pg_catalog.has_table_privilege('public', class.oid, privilege)
    $$,
    'PUBLIC has no privilege on any table in retail or mcp_internal'
);
select is_empty(
    $$
        select format('%s on mcp_internal.principal_roles for %s', privilege, runner.name)
        from pg_temp.query_roles as runner
        cross join unnest(
            array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']
            || case when current_setting('server_version_num')::integer >= 170000 then array['maintain'] end
        ) as privilege
        where pg_catalog.has_table_privilege(runner.name, 'mcp_internal.principal_roles', privilege)
        union all
        select format('a column privilege on mcp_internal.principal_roles for %s', runner.name)
        from pg_temp.query_roles as runner
        where pg_catalog.has_any_column_privilege(runner.name, 'mcp_internal.principal_roles', 'select, insert, update, references')
    $$,
    'Neither the reader, the server nor any principal role has a privilege on mcp_internal.principal_roles: none can read or forge the mapping of roles to principals'
);
select is_empty(
    $$
        select format('%s.%I', attribute.attrelid::regclass, attribute.attname)
        from pg_catalog.pg_attribute as attribute
        inner join pg_catalog.pg_class as class on attribute.attrelid = class.oid
        where
            class.relnamespace in (to_regnamespace('retail'), to_regnamespace('mcp_internal'))
            and attribute.attacl is not null
    $$,
    'No column-level grant exists in retail or mcp_internal: table grants tell the whole story'
);

-- The database: no temporary objects and no new schemas for the roles that run queries

select ok(
    not pg_catalog.has_database_privilege('zava_reader', current_database(), 'temporary'),
    'zava_reader cannot create temporary tables or functions in the database'
);
select ok(
    not pg_catalog.has_database_privilege('zava_reader', current_database(), 'create'),
    'zava_reader cannot create schemas in the database'
);
select ok(
    not pg_catalog.has_database_privilege('zava_server', current_database(), 'temporary')
    and not pg_catalog.has_database_privilege('zava_server', current_database(), 'create'),
    'zava_server can create neither temporary objects nor schemas in the database'
);

-- Functions

select is_empty(
    $$
        select function_.oid::regprocedure::text
        from pg_catalog.pg_proc as function_
        where
            function_.pronamespace in (to_regnamespace('mcp'), to_regnamespace('mcp_internal'))
            and pg_catalog.has_function_privilege('public', function_.oid, 'execute')
    $$,
    'PUBLIC can execute no function in mcp or mcp_internal'
);
select ok(
    exists (
        select
        from pg_catalog.pg_default_acl as default_acl
        where
            default_acl.defaclrole = (
                select role.oid from pg_catalog.pg_roles as role
                where role.rolname = 'zava_owner'
            )
            and default_acl.defaclnamespace = 0
            and default_acl.defaclobjtype = 'f'
            and not exists (
                select from aclexplode(default_acl.defaclacl) as acl
                where acl.grantee = 0 and acl.privilege_type = 'EXECUTE'
            )
    ),
    'Functions zava_owner creates later are not executable by PUBLIC either (default privileges)'
);
select is_empty(
    $$
        select api.signature
        from (
            values
            ('mcp.run_query(text, integer, integer)'),
            ('mcp.explain_query(text, boolean)'),
            ('mcp.describe_tables(text[])'),
            ('mcp.list_tables()'),
            ('mcp.search_products(vector, integer, real, text, boolean, text)'),
            ('mcp.current_principal()'),
            ('mcp_internal.visible_store_ids()'),
            ('mcp_internal.visible_store_when_planned()'),
            ('mcp_internal.principal_is_known()'),
            ('mcp_internal.principal_of_role(name)'),
            ('mcp_internal.store_ids_of_role(name)'),
            ('mcp_internal.is_known_role(name)'),
            ('mcp_internal.is_known_principal(uuid)')
        ) as api (signature)
        where not coalesce(pg_catalog.has_function_privilege('zava_reader', to_regprocedure(api.signature), 'execute'), false)
    $$,
    'zava_reader can execute the API functions and the helpers its row level security policies call'
);
select function_privs_are(
    'mcp', 'bind_principal', array['uuid']::name[], 'zava_reader', array[]::name[],
    'zava_reader cannot execute mcp.bind_principal: a query cannot switch to another principal'
);
select function_privs_are(
    'mcp_internal', 'principal_role', array['uuid']::name[], 'zava_reader', array[]::name[],
    'zava_reader cannot execute mcp_internal.principal_role: a query cannot learn another principal''s role'
);
select function_privs_are(
    'mcp_internal', 'login_role_problems', array[]::name[], 'zava_reader', array[]::name[],
    'zava_reader cannot execute mcp_internal.login_role_problems, which reads every principal role'
);
select function_privs_are(
    'mcp', 'bind_principal', array['uuid']::name[], 'zava_server', array[]::name[],
    'zava_server cannot execute mcp.bind_principal: it runs no tool call itself'
);
select function_privs_are(
    'mcp_internal', 'principal_role', array['uuid']::name[], 'zava_server', array['EXECUTE']::name[],
    'zava_server can execute mcp_internal.principal_role, to learn which role to connect as'
);
select is_empty(
    $$
        select format('%s may execute %s', grantee.rolname, function_.oid::regprocedure)
        from pg_catalog.pg_proc as function_
        cross join lateral aclexplode(function_.proacl) as acl
        inner join pg_catalog.pg_roles as grantee on acl.grantee = grantee.oid
        where
            function_.oid in (to_regprocedure('mcp.bind_principal(uuid)'), to_regprocedure('mcp_internal.principal_role(uuid)'))
            and grantee.oid <> function_.proowner
            and not (grantee.rolname = 'zava_server' and function_.proname = 'principal_role')
            and (
                grantee.rolname in (select runner.name from pg_temp.query_roles as runner)
                or exists (
                    select from mcp_internal.principal_roles as known
                    where not exists (
                        select from pg_catalog.pg_auth_members as membership
                        where
                            membership.roleid = to_regrole(known.role_name)
                            and membership.member = grantee.oid
                            and membership.set_option
                    )
                )
            )
    $$,
    'Besides the owner (and zava_server for principal_role), only the administrator, who may SET ROLE to every principal role, may execute mcp.bind_principal and mcp_internal.principal_role'
);
select is_empty(
    $$
        select format('%s %s %s but zava_reader %s', known.role_name, granted.verb, granted.object, granted.reader_verb)
        from mcp_internal.principal_roles as known
        cross join lateral (
            select
                case when pg_catalog.has_function_privilege(known.role_name, function_.oid, 'execute') then 'may execute' else 'may not execute' end as verb,
                function_.oid::regprocedure::text as object,
                case when pg_catalog.has_function_privilege('zava_reader', function_.oid, 'execute') then 'may' else 'may not' end as reader_verb
            from pg_catalog.pg_proc as function_
            where
                function_.pronamespace in (to_regnamespace('mcp'), to_regnamespace('mcp_internal'))
                and pg_catalog.has_function_privilege(known.role_name, function_.oid, 'execute')
                <> pg_catalog.has_function_privilege('zava_reader', function_.oid, 'execute')
            union all
            select
                format('has %s on', privilege),
                class.oid::regclass::text,
                case when pg_catalog.has_table_privilege('zava_reader', class.oid, privilege) then 'has' else 'has not' end
            from pg_catalog.pg_class as class
            cross join unnest(
                array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']
                || case when current_setting('server_version_num')::integer >= 170000 then array['maintain'] end
            ) as privilege
            where
                class.relnamespace in (to_regnamespace('retail'), to_regnamespace('mcp_internal'))
                and class.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
                and pg_catalog.has_table_privilege(known.role_name, class.oid, privilege)
                <> pg_catalog.has_table_privilege('zava_reader', class.oid, privilege)
            union all
            select
                format('has %s on schema', privilege),
                namespace.nspname::text,
                case when pg_catalog.has_schema_privilege('zava_reader', namespace.oid, privilege) then 'has' else 'has not' end
            from pg_catalog.pg_namespace as namespace
            cross join unnest(array['usage', 'create']) as privilege
            where
                namespace.nspname in ('retail', 'mcp', 'mcp_internal', 'public')
                and pg_catalog.has_schema_privilege(known.role_name, namespace.oid, privilege)
                <> pg_catalog.has_schema_privilege('zava_reader', namespace.oid, privilege)
        ) as granted
    $$,
    'Every principal role may do exactly what zava_reader may with the schemas, tables and functions of retail, mcp and mcp_internal: nothing is granted to a principal itself'
);
select results_eq(
    $$
        select function_.oid::regprocedure::text collate "default"
        from pg_catalog.pg_proc as function_
        where
            function_.pronamespace in (to_regnamespace('mcp'), to_regnamespace('mcp_internal'))
            and pg_catalog.has_function_privilege('zava_server', function_.oid, 'execute')
        order by 1
    $$,
    $$
        values
        ('mcp.current_principal()'),
        ('mcp_internal.authenticate_api_key(bytea)'),
        ('mcp_internal.login_role_problems()'),
        ('mcp_internal.principal_label(uuid)'),
        ('mcp_internal.principal_of_role(name)'),
        ('mcp_internal.principal_role(uuid)'),
        ('mcp_internal.record_audit(jsonb)'),
        ('mcp_internal.search_cache_warning(bigint)')
    $$,
    'zava_server can execute only current_principal, authenticate_api_key, login_role_problems, principal_label, principal_of_role, principal_role, record_audit and search_cache_warning, not the tools themselves'
);

-- Server files and other databases (PostgreSQL revokes these from PUBLIC by default;
-- nothing here may grant them back)

select is(
    (
        select count(distinct function_.proname)::integer
        from pg_catalog.pg_proc as function_
        where
            function_.pronamespace = to_regnamespace('pg_catalog')
            and function_.proname in (
                'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'lo_import', 'lo_export'
            )
    ),
    6,
    'The six server-file functions checked below all exist, so the next check is not vacuous'
);
select is_empty(
    $$
        select format('%s for %s', function_.oid::regprocedure, runner.name)
        from pg_catalog.pg_proc as function_
        cross join pg_temp.query_roles as runner
        where
            function_.pronamespace = to_regnamespace('pg_catalog')
            and function_.proname in (
                'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'lo_import', 'lo_export'
            )
            and pg_catalog.has_function_privilege(runner.name, function_.oid, 'execute')
    $$,
    'Neither zava_reader, zava_server nor any principal role can execute pg_read_file, pg_read_binary_file, pg_ls_dir, pg_stat_file, lo_import or lo_export'
);
select hasnt_extension('dblink', 'dblink is not installed: no connections to other databases');
select hasnt_extension('postgres_fdw', 'postgres_fdw is not installed: no foreign tables on other servers');
select hasnt_extension('file_fdw', 'file_fdw is not installed: no foreign tables over server files');

select * from finish();
rollback;
