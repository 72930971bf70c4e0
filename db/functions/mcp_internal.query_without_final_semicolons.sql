-- mcp_internal.query_without_final_semicolons(query text) -> text
--
-- A query ending in ";" (and perhaps comments after it) is one statement, but not one
-- that can be placed in parentheses: this returns the text before such an ending, or the
-- text itself. It cuts only before a ";" followed by nothing but semicolons, white space
-- and comments; if that ";" was inside a quoted string, what is left does not parse, and
-- run_query then uses the text as it came.
set role {{ owner }};

create or replace function mcp_internal.query_without_final_semicolons(query text)
returns text
language plpgsql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    -- Only the end of the text is searched, and only its last 50 semicolons, so that a
    -- text full of them costs little more than a short one.
    tail_start constant integer := greatest(length(query) - 10000, 0);
    semicolon integer;
begin
    if strpos(query, ';') = 0 then
        return (query);  -- parenthesized: "return query" would be RETURN QUERY
    end if;
    for semicolon in
        select piece.ends_before
        from (
            select tail_start + sum(length(part) + 1) over (order by position) as ends_before,
                   position, count(*) over () as parts
            from string_to_table(substr(query, tail_start + 1), ';') with ordinality as split (part, position)
        ) as piece
        where piece.position < piece.parts and piece.position >= piece.parts - 50
        order by piece.position
    loop
        if substr(query, semicolon + 1)
            ~ '^([[:space:];]|--[^\n]*(\n|$)|/\*([^*]|\*+[^*/])*\*+/)*$' then
            return left(query, semicolon - 1);
        end if;
    end loop;
    return (query);
end;
$$;

comment on function mcp_internal.query_without_final_semicolons(text) is
'The query text before a final ";" followed only by semicolons, white space and comments; the text itself when there is none.';

grant execute on function mcp_internal.query_without_final_semicolons(text) to {{ reader }};

reset role;
