-- The three schemas: retail holds the data, mcp the API that tools call, and
-- mcp_internal what the API needs but callers must not touch (the principal binding).
set role {{ owner }};

create schema if not exists retail;
comment on schema retail is
'The Zava retail data: stores, customers, the product catalog, inventory and sales.';

create schema if not exists mcp;
comment on schema mcp is
'The API the MCP server calls: schema introspection, the guarded read-only query runner and product search. Every function here can be called from psql after binding a principal.';

create schema if not exists mcp_internal;
comment on schema mcp_internal is
'Internals of the mcp API (the per-transaction principal binding). Not callable by the reader.';

-- Functions are executable only where a GRANT says so.
alter default privileges for role {{ owner }} revoke execute on functions from public;

reset role;
