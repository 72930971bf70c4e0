-- mcp_internal.head_office_principal() -> uuid
--
-- The head office principal, which sees every store (the reference sample's value). The
-- one place this constant lives.
set role {{ owner }};

create or replace function mcp_internal.head_office_principal()
returns uuid
language sql
immutable
parallel safe
return '00000000-0000-0000-0000-000000000000'::uuid;

comment on function mcp_internal.head_office_principal() is
'The head office principal: bound to it, a transaction sees every store.';

grant execute on function mcp_internal.head_office_principal() to {{ reader }};

reset role;
