-- mcp_internal.leading_keyword(query text) -> text
--
-- The first keyword of a SQL text, lower-cased, after any white space, opening
-- parentheses and comments (line comments, and block comments, which nest in
-- PostgreSQL); when the text starts with something else, its first characters. Null
-- when nothing but white space and comments is left. mcp.run_query and mcp.explain_query
-- accept a query only when this is select, with, values or table; the read-only
-- transaction, not this check, is what stops writes.
set role {{ owner }};

create or replace function mcp_internal.leading_keyword(query text)
returns text
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    rest text := query;
    depth integer;
    next_open integer;
    next_close integer;
begin
    loop
        rest := regexp_replace(rest, '^[ \t\n\r\f\v(]+', '');
        if starts_with(rest, '--') then
            next_close := strpos(rest, E'\n');
            if next_close = 0 then
                return null;
            end if;
            rest := substr(rest, next_close + 1);
        elsif starts_with(rest, '/*') then
            depth := 1;
            rest := substr(rest, 3);
            while depth > 0 loop
                next_open := strpos(rest, '/*');
                next_close := strpos(rest, '*/');
                if next_close = 0 then
                    return null;  -- an unterminated comment holds no keyword
                elsif next_open > 0 and next_open < next_close then
                    depth := depth + 1;
                    rest := substr(rest, next_open + 2);
                else
                    depth := depth - 1;
                    rest := substr(rest, next_close + 2);
                end if;
            end loop;
        else
            -- A word, or else the first few characters, so that an error can name them.
            return coalesce(lower(substring(rest from '^[A-Za-z_]+')), substring(rest from '^[^ \t\n\r\f\v]{1,20}'));
        end if;
    end loop;
end;
$$;

comment on function mcp_internal.leading_keyword(text) is
'First keyword of a SQL text after white space, parentheses and (nested) comments, lower-cased; null when there is none.';

grant execute on function mcp_internal.leading_keyword(text) to {{ reader }};

reset role;
