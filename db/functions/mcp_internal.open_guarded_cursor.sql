-- mcp_internal.open_guarded_cursor(query text, caller text) -> refcursor
--
-- The guard shared by mcp.run_query and mcp.explain_query. It makes the current
-- transaction read-only, so that nothing the query calls can write, then opens a cursor
-- on the query and returns it, or raises a clear error unless the text is exactly one
-- query (SELECT, WITH, VALUES or TABLE). Stacked statements and utility statements are
-- caught by PostgreSQL's own parser: such a text cannot be opened as a cursor. No rows
-- are read here. (No pinned search_path: the caller's query runs with the caller's.)
set role {{ owner }};

create or replace function mcp_internal.open_guarded_cursor(query text, caller text)
returns refcursor
language plpgsql
volatile
as $$
declare
    guarded refcursor;
    missing_table text;
begin
    perform mcp_internal.check_query_start(query, caller);
    perform pg_catalog.set_config('transaction_read_only', 'on', true);

    begin
        open guarded for execute query;
    exception
        when invalid_cursor_definition then
            raise exception '% runs exactly one query: remove stacked statements (anything after a semicolon) and utility commands',
                caller
                using errcode = 'insufficient_privilege',
                      detail = sqlerrm;
        when read_only_sql_transaction then
            perform mcp_internal.refuse_write(caller, sqlerrm);
        when undefined_table then
            -- Name the tables there are: the caller's next query can use them.
            select string_agg(format('retail.%I', listed.relname), ', ' order by listed.relname)
            into missing_table
            from pg_catalog.pg_class as listed
            where listed.relnamespace = 'retail'::regnamespace and listed.relkind in ('r', 'p', 'v', 'm');
            raise exception '%', sqlerrm
                using errcode = 'undefined_table',
                      hint = 'The tables are in schema retail: ' || coalesce(missing_table, 'none') || '.';
    end;
    return guarded;
end;
$$;

comment on function mcp_internal.open_guarded_cursor(text, text) is
'Opens a cursor on exactly one read-only query (SELECT/WITH/VALUES/TABLE) after making the transaction read-only; raises a clear error otherwise.';

grant execute on function mcp_internal.open_guarded_cursor(text, text) to {{ reader }};

reset role;
