-- mcp_internal.authenticate_api_key(hashed_key bytea) -> uuid
--
-- The principal of a valid API key, given the SHA-256 hash of the key; null for an
-- unknown, revoked or expired key. The server's login role calls it for every request;
-- SECURITY DEFINER so that the role needs no privilege on the keys table, and it learns
-- nothing about any other key.
set role {{ owner }};

create or replace function mcp_internal.authenticate_api_key(hashed_key bytea)
returns uuid
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
return (
    select api_key.rls_user_id
    from mcp_internal.api_keys as api_key
    where
        -- hashed_key is the function's parameter
        api_key.key_hash = hashed_key  -- noqa: RF03
        and api_key.revoked_at is null
        and (api_key.expires_at is null or api_key.expires_at > now())
);

comment on function mcp_internal.authenticate_api_key(bytea) is
'The principal of a valid API key (given its SHA-256 hash), or null when the key is unknown, revoked or expired.';

grant execute on function mcp_internal.authenticate_api_key(bytea) to {{ login }};

reset role;
