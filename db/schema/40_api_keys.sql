-- API keys: how the server knows who calls. A key is shown once when it is created
-- (zava-mcp keys create) and only its SHA-256 hash is stored; it names one principal, may
-- expire and can be revoked. Nobody but the owner reads this table: the server's login
-- role checks a key through mcp_internal.authenticate_api_key, which answers only for
-- the hash it is given.
set role {{ owner }};

create table if not exists mcp_internal.api_keys (
    key_id uuid primary key default gen_random_uuid(),
    key_hash bytea not null unique check (octet_length(key_hash) = 32),
    rls_user_id uuid not null,
    name text not null default '',
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
comment on table mcp_internal.api_keys is
'API keys for the MCP server: the SHA-256 hash of each key, the principal it acts for, and when it expires or was revoked.';
comment on column mcp_internal.api_keys.key_id is 'Identifier of the key (not secret): shown by zava-mcp keys list, used to revoke it.';
comment on column mcp_internal.api_keys.key_hash is 'SHA-256 of the key; the key itself is never stored.';
comment on column mcp_internal.api_keys.rls_user_id is 'The principal the key acts for (a stores.rls_user_id, or head office).';
comment on column mcp_internal.api_keys.name is 'A label for people, e.g. who holds the key.';
comment on column mcp_internal.api_keys.created_at is 'When the key was created.';
comment on column mcp_internal.api_keys.expires_at is 'When the key stops working; null for never.';
comment on column mcp_internal.api_keys.revoked_at is 'When the key was revoked; null while it is valid.';

reset role;
