-- mcp_internal.clean_session() -> void
--
-- Undoes what a call can leave in its session once its transaction has rolled back,
-- before the connection serves another call: cursors, settings, prepared statements,
-- listeners, session advisory locks, temporary objects, sequence state. One function so
-- the server sends one statement instead of seven after every call (each costs client
-- CPU in a pipeline). Not DISCARD ALL: its DISCARD PLANS would make every later call plan
-- the mcp functions again, and it cannot run inside a function. No SET clause: a
-- function's SET would be restored on return, after RESET ALL. Every name is
-- schema-qualified instead.
set role {{ owner }};

create or replace function mcp_internal.clean_session()
returns void
language plpgsql
volatile
as $$
begin
    -- SQL's CLOSE ALL (PL/pgSQL's CLOSE takes one cursor). PostgreSQL skips the portal
    -- running this function and closes every other, WITH HOLD ones included.
    execute 'close all';
    reset all;
    deallocate all;
    unlisten *;
    perform pg_catalog.pg_advisory_unlock_all();
    discard temp;
    discard sequences;
end;
$$;

comment on function mcp_internal.clean_session() is
'Resets what a finished call can leave in its session (cursors, settings, prepared statements, listeners, advisory locks, temporary objects, sequences).';

grant execute on function mcp_internal.clean_session() to {{ reader }};

reset role;
