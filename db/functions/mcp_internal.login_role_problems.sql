-- mcp_internal.login_role_problems() -> text[]
--
-- Why the current role must not serve tool calls: it is a superuser, can bypass row level
-- security, owns retail tables, or is a member of the owner. Empty when it is fit. The
-- server calls it at start-up, as its login role, and refuses to start on any problem.
set role {{ owner }};

create or replace function mcp_internal.login_role_problems()
returns text[]
language sql
stable
set search_path = pg_catalog, pg_temp
return (
    select
        array_remove(array[
            case when login.rolsuper then format('%I is a superuser (row level security does not apply to it)', login.rolname) end,
            case when login.rolbypassrls then format('%I has BYPASSRLS', login.rolname) end,
            case
                when
                    exists (
                        select from pg_class as class
                        where class.relnamespace = 'retail'::regnamespace and class.relowner = login.oid
                    )
                    then format('%I owns retail tables (owners bypass row level security)', login.rolname)
            end,
            case
                when pg_has_role(login.oid, '{{ owner }}', 'usage')
                    then format('%I has the privileges of {{ owner }}', login.rolname)
            end
        ], null)
    from pg_roles as login
    where login.rolname = current_user
);

comment on function mcp_internal.login_role_problems() is
'Reasons the current role must not serve tool calls (superuser, BYPASSRLS, owner of retail tables, member of the owner); empty when it is fit.';

grant execute on function mcp_internal.login_role_problems() to {{ login }};

reset role;
