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
    raise exception '% only reads: the query tried to write (%)', caller, reason
        using errcode = 'insufficient_privilege';
end;
$$;

comment on function mcp_internal.refuse_write(text, text) is
'Raises the error of a guarded query that tried to write.';

grant execute on function mcp_internal.refuse_write(text, text) to {{ reader }};

reset role;
