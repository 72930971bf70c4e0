-- Who the current transaction acts for. mcp.bind_principal writes one row here before the
-- transaction turns read-only; the row names the backend and the transaction, so it is
-- visible to that transaction alone and means nothing once the transaction ends (the
-- server rolls back; even a commit would leave a row whose transaction id never matches
-- again). The reader role has no privilege on this table, and a read-only transaction
-- cannot write it, so nothing inside a query can change whose rows it sees.
set role {{ owner }};

create unlogged table if not exists mcp_internal.principal_bindings (
    backend_pid integer primary key,
    transaction_id xid8 not null,
    rls_user_id uuid not null,
    bound_at timestamptz not null default now()
);
comment on table mcp_internal.principal_bindings is
'The principal each backend''s current transaction acts for; written by mcp.bind_principal, read through mcp.current_principal. Unlogged: it is never needed after a crash.';
comment on column mcp_internal.principal_bindings.backend_pid is 'pg_backend_pid() of the session that bound the principal.';
comment on column mcp_internal.principal_bindings.transaction_id is 'The transaction the binding belongs to; a binding of any other transaction is ignored.';
comment on column mcp_internal.principal_bindings.rls_user_id is 'The bound principal (a stores.rls_user_id, or head office).';
comment on column mcp_internal.principal_bindings.bound_at is 'When the principal was bound.';

reset role;
