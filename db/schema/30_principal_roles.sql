-- Who a connection acts for. Every principal (head office, each store's manager) has a
-- LOGIN role of its own with an opaque name (zava_p_ and random hex), created by
-- db/principal_roles.sql; the server connects as the caller's role, so PostgreSQL itself
-- keeps callers apart (another role's statements, cancels and signals are refused), and
-- the binding is the login itself: nothing is written per call, so a hot standby serves
-- tool calls too. This table maps each role to its principal. Only the owner reads it:
-- the role names are visible to everyone (pg_roles, pg_stat_activity), the mapping is not.
set role {{ owner }};

-- The binding of earlier versions: a row per backend, written before the transaction
-- turned read-only. CASCADE also drops the functions and policies built on it; this same
-- build creates them again (db/functions, db/policies), in the same transaction.
drop table if exists mcp_internal.principal_bindings cascade;
drop function if exists mcp_internal.record_binding(uuid);

create table if not exists mcp_internal.principal_roles (
    role_name name primary key,
    rls_user_id uuid not null unique,
    created_at timestamptz not null default now()
);
comment on table mcp_internal.principal_roles is
'The login role of each principal; written by db init and seeding (db/principal_roles.sql), read by nobody but the owner and through mcp_internal functions.';
comment on column mcp_internal.principal_roles.role_name is 'The principal''s login role: zava_p_ and 16 random hex digits, so the name says nothing of whom it serves.';
comment on column mcp_internal.principal_roles.rls_user_id is 'The principal (a stores.rls_user_id, or head office).';
comment on column mcp_internal.principal_roles.created_at is 'When the role was created.';

reset role;
