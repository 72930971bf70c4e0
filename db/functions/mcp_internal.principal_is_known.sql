-- mcp_internal.principal_is_known() -> boolean
--
-- True when the current role acts for head office or a store's manager. The catalog
-- tables (stores, categories, product types, products, embeddings) are visible to known
-- principals only, so any other role sees nothing at all. SECURITY INVOKER, so
-- current_user is the caller's role; a single expression, so PostgreSQL inlines it into
-- the policies and their subquery makes one function call (mcp_internal.is_known_role).
set role {{ owner }};

create or replace function mcp_internal.principal_is_known()
returns boolean
language sql
stable
parallel safe
return mcp_internal.is_known_role(current_user);

comment on function mcp_internal.principal_is_known() is
'True when the current role acts for head office or a store manager.';

grant execute on function mcp_internal.principal_is_known() to {{ reader }};

reset role;
