-- mcp_internal.refuse_write(caller text, reason text) -> void (always raises)
--
-- The one error a guarded query gets when it tries to write, whether PostgreSQL noticed
-- when the cursor was opened (SELECT ... FOR UPDATE) or while rows were read (a
-- data-modifying CTE, nextval, lo_create): the read-only transaction's own message is
-- kept as the reason.
set role {{ owner }};

create or replace function mcp_internal.refuse_write(caller text, reason text)
returns void
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    -- PostgreSQL names the outer statement: for a write inside a query, that is SELECT.
    raise exception '% only reads: the query tried to write (%)', caller,
        case when reason = 'cannot execute SELECT in a read-only transaction'
            then 'a data-modifying WITH (INSERT, UPDATE, DELETE, MERGE) or a function that writes'
            else reason
        end
        using errcode = 'insufficient_privilege';
end;
$$;

comment on function mcp_internal.refuse_write(text, text) is
'Raises the error of a guarded query that tried to write.';

grant execute on function mcp_internal.refuse_write(text, text) to {{ reader }};

reset role;
