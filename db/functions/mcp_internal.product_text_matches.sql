-- mcp_internal.product_text_matches(caller name, query_text text)
--   -> table (product_id integer, text_rank real, text_position bigint)
--
-- The products whose full-text document (retail.products.search_document) holds any of
-- the words of query_text, best first, for mcp.search_products. text_rank is the number
-- of the query's words the product holds plus ts_rank_cd normalized below 1 (how often
-- and how close together they occur, the name above the description), so a product with
-- more of the words always ranks higher. The words are those of to_tsvector('english'):
-- stop words and punctuation are dropped, and no character of query_text is tsquery
-- syntax, so operators, quotes and the like are only text. Only the first 32 distinct
-- words count, and at most 10,000 matching products are ranked (bounded work for a
-- common word; which 10,000 is then up to the index). When at least 400 products hold
-- every word, only those are ranked and returned: they rank above any product holding
-- fewer, so they are exactly the first rows of the whole ranking, and mcp.search_products
-- takes at most 400 (twice its largest max_rows); ranking the products holding some of
-- the words too took most of a hybrid search's time at a million products.
--
-- SECURITY DEFINER because row level security keeps the GIN index out of a search run as
-- the caller: @@ is not leakproof, so under the products policy PostgreSQL may not
-- apply it before the policy's test and tests every product (seconds at a million).
-- It answers only a known principal (the caller's role is checked as mcp.audit_log
-- checks it: a role the session may act as), and only with product ids and ranks, of
-- products every known principal sees all of; an unknown or unbound caller gets no rows.
-- mcp.search_products joins the ids through row level security again.
set role {{ owner }};

create or replace function mcp_internal.product_text_matches(caller name, query_text text)
returns table (product_id integer, text_rank real, text_position bigint)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    longest_text constant integer := 2000;  -- the tool's own limit on a description
    word_limit constant integer := 32;
    match_limit constant integer := 10000;
    enough constant integer := 400;  -- the most text candidates mcp.search_products asks for
    words text[];
    any_word tsquery;
    every_word tsquery;
    matching tsquery;  -- what a product must hold to be ranked
    holds_every_word boolean;  -- whether every product matching it holds every word
begin
    if length(query_text) > longest_text then
        raise exception 'query_text is % characters long; at most % are searched', length(query_text), longest_text
            using errcode = 'invalid_parameter_value';
    end if;
    if not mcp_internal.is_known_principal(mcp_internal.principal_of_role(caller)) then
        return;
    end if;
    -- The distinct words in the order they first occur; for the tsquery each is quoted as
    -- a value (quotes doubled, backslashes escaped), so the cast parses nothing the
    -- caller wrote as syntax.
    select array_agg(lexeme.lexeme order by lexeme.positions[1])
    into words
    from (
        select query_word.lexeme, query_word.positions
        from unnest(to_tsvector('english'::regconfig, coalesce(query_text, ''))) as query_word
        order by query_word.positions[1]
        limit word_limit
    ) as lexeme;
    if words is null then
        return;
    end if;
    select
        string_agg(quoted.word, ' | ')::tsquery,
        string_agg(quoted.word, ' & ')::tsquery
    into any_word, every_word
    from (
        select '''' || replace(replace(word, '\', '\\'), '''', '''''') || '''' as word
        from unnest(words) as word
    ) as quoted;
    matching := any_word;
    if cardinality(words) > 1 and (
        select count(*) from (
            select 1 from retail.products as product
            where product.search_document @@ every_word
            limit enough
        ) as holding_every_word
    ) = enough then
        matching := every_word;
    end if;
    holds_every_word := matching = every_word;

    return query
    select
        ranked.product_id,
        ranked.text_rank,
        row_number() over (order by ranked.text_rank desc, ranked.product_id)
    from (
        select
            matched.product_id,
            (
                -- ts_delete drops the query's words: what it drops is how many it held.
                -- Not needed when each match holds every word (one word, or only those
                -- holding every word ranked): a copy of each document, a third of the
                -- ranking's time for a common word at a million products.
                case
                    when holds_every_word then cardinality(words)
                    else length(matched.search_document) - length(ts_delete(matched.search_document, words))
                end
                + ts_rank_cd(matched.search_document, any_word, 32)
            )::real as text_rank
        from (
            select product.product_id, product.search_document
            from retail.products as product
            where product.search_document @@ matching
            limit match_limit
        ) as matched
    ) as ranked
    order by ranked.text_rank desc, ranked.product_id;
end;
$$;

comment on function mcp_internal.product_text_matches(name, text) is
'Products whose full-text document holds any word of query_text, best first, for a known principal only (mcp.search_products joins them through row level security).';

grant execute on function mcp_internal.product_text_matches(name, text) to {{ reader }};

reset role;
