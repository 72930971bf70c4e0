-- mcp_internal.check_query_start(query text, caller text) -> void
--
-- The first half of the guard: raises a clear error unless the text starts (after white
-- space, comments and opening parentheses) with SELECT, WITH, VALUES or TABLE. It proves
-- nothing about the rest of the text; mcp_internal.open_guarded_cursor and mcp.run_query
-- then have PostgreSQL's parser prove it is exactly one query.
set role {{ owner }};

create or replace function mcp_internal.check_query_start(query text, caller text)
returns void
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    keyword text := mcp_internal.leading_keyword(query);
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
end;
$$;

comment on function mcp_internal.check_query_start(text, text) is
'Raises a clear error unless the text starts with SELECT, WITH, VALUES or TABLE.';

grant execute on function mcp_internal.check_query_start(text, text) to {{ reader }};

reset role;
