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
    -- The first words of PostgreSQL's other commands: such a text is refused as not a
    -- read-only query; any other first word is reported as no SQL at all.
    sql_commands constant text[] := array[
        'abort', 'alter', 'analyze', 'analyse', 'begin', 'call', 'checkpoint', 'close',
        'cluster', 'comment', 'commit', 'copy', 'create', 'deallocate', 'declare', 'delete',
        'discard', 'do', 'drop', 'end', 'execute', 'explain', 'fetch', 'grant', 'import',
        'insert', 'listen', 'load', 'lock', 'merge', 'move', 'notify', 'prepare', 'reassign',
        'refresh', 'reindex', 'release', 'reset', 'revoke', 'rollback', 'savepoint',
        'security', 'set', 'show', 'start', 'truncate', 'unlisten', 'update', 'vacuum'
    ];
    missing_table text;
begin
    if keyword is null then
        raise exception '% needs a query: the text is empty or holds only comments', caller
            using errcode = 'syntax_error';
    end if;
    if keyword not in ('select', 'with', 'values', 'table') and not keyword = any(sql_commands) then
        raise exception '% needs a query starting with SELECT, WITH, VALUES or TABLE; this text starts with %, which is no SQL command (a typo?)',
            caller, upper(keyword)
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
