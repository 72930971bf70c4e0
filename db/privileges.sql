-- Every object-level GRANT and REVOKE, grouped by role. (Function EXECUTE is granted in
-- each function's own file; it is revoked from PUBLIC by default in
-- db/schema/00_schemas.sql.) Applied last, so it also tightens a database built by an
-- older version.
set role {{ owner }};

-- PUBLIC: nothing in our schemas.
revoke all on schema retail, mcp, mcp_internal from public;
revoke all on all tables in schema retail from public;
revoke all on all tables in schema mcp_internal from public;

-- {{ reader }}: reads the retail tables, under row level security; calls the mcp API.
grant usage on schema retail to {{ reader }};                 -- the data
grant select on all tables in schema retail to {{ reader }};  -- read-only, filtered by policies
grant usage on schema mcp to {{ reader }};                    -- the API functions
grant usage on schema mcp_internal to {{ reader }};           -- helpers the API and policies call
revoke all on mcp_internal.principal_roles from {{ reader }};  -- whose role is whose: owner only

-- Principal roles (db/principal_roles.sql): inherit {{ reader }}, nothing of their own.

-- {{ login }}: checks keys, writes the audit trail and learns each principal's role,
-- through functions; it reads no table itself.
grant usage on schema mcp to {{ login }};           -- mcp.current_principal
grant usage on schema mcp_internal to {{ login }};  -- authenticate_api_key, principal_role, record_audit, ...

reset role;
