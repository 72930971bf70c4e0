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
    keyword text := mcp_internal.leading_keyword(query);
    guarded refcursor;
begin
    if keyword is null then
        raise exception '% needs a query: the text is empty or holds only comments', caller
            using errcode = 'syntax_error';
    end if;
    if keyword not in ('select', 'with', 'values', 'table') then
        raise exception '% runs one read-only query (SELECT, WITH, VALUES or TABLE); this text starts with %',
            caller, upper(keyword)
            using errcode = 'insufficient_privilege',
                  hint = 'Writes, DDL, transaction control (COMMIT, ROLLBACK), SET, COPY, DO, EXPLAIN and CALL are refused.';
    end if;

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
    end;
    return guarded;
end;
$$;

comment on function mcp_internal.open_guarded_cursor(text, text) is
'Opens a cursor on exactly one read-only query (SELECT/WITH/VALUES/TABLE) after making the transaction read-only; raises a clear error otherwise.';

grant execute on function mcp_internal.open_guarded_cursor(text, text) to {{ reader }};

reset role;
