-- mcp.search_products(query_embedding vector, max_rows = 20, min_similarity = 30,
--                     query_text = null, in_stock_only = false, query_model = null)
--   -> table (product_id, sku, product_name, category_name, type_name, base_price,
--             product_description, similarity_percent, text_rank, score)
--
-- Products whose descriptions are closest in meaning to the query embedding (cosine
-- similarity on the HNSW index, as a percentage like the reference sample). Products
-- below min_similarity are left out. When query_text is given, the nearest products are
-- fused by reciprocal rank fusion with the products that hold the most of its words
-- (mcp_internal.product_text_matches: any word matches, more words rank higher; text_rank
-- is that count plus a fraction for how often and how close they occur). A full-text
-- match is kept even below min_similarity. in_stock_only keeps products with stock at a store
-- the caller may see (row level security on inventory decides which). pgvector's
-- iterative index scan keeps reading the index until enough products pass that filter.
-- query_model, when given, must name the model that embedded the stored vectors.
set role {{ owner }};

create or replace function mcp.search_products(
    query_embedding vector,
    max_rows integer default 20,
    min_similarity real default 30,
    query_text text default null,
    in_stock_only boolean default false,
    query_model text default null
)
returns table (
    product_id integer,
    sku text,
    product_name text,
    category_name text,
    type_name text,
    base_price numeric,
    product_description text,
    similarity_percent numeric,
    text_rank real,
    score double precision
)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
set hnsw.iterative_scan = 'relaxed_order'  -- noqa: PRS
set hnsw.ef_search = 100
as $$
#variable_conflict use_column
declare
    -- How many neighbours (and full-text matches) take part in the fusion.
    candidate_count constant integer := greatest(max_rows * 2, 40);
    rank_constant constant integer := 60;  -- the usual k of reciprocal rank fusion
    stored_dimensions integer := {{ embedding_dim }};
    stored_models text[];
    lowest_model text;
    highest_model text;
    search_text text := nullif(btrim(query_text), '');
begin
    if query_embedding is null then
        raise exception 'search_products needs a query embedding, not null'
            using errcode = 'null_value_not_allowed';
    end if;
    if vector_dims(query_embedding) <> stored_dimensions then
        raise exception 'the query embedding has % dimensions, but product embeddings have %',
            vector_dims(query_embedding), stored_dimensions
            using errcode = 'data_exception',
                  hint = 'Embed the query with the same model as the products.';
    end if;
    if max_rows is null or max_rows not between 1 and 200 then
        raise exception 'max_rows must be between 1 and 200, not %', coalesce(max_rows::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    if min_similarity is null or min_similarity not between 0 and 100 then
        raise exception 'min_similarity is a percentage between 0 and 100, not %', coalesce(min_similarity::text, 'null')
            using errcode = 'invalid_parameter_value';
    end if;
    if in_stock_only is null then
        raise exception 'in_stock_only must be true or false, not null'
            using errcode = 'invalid_parameter_value';
    end if;
    -- The lowest and highest stored model names come from two probes of the model_name
    -- index, where a distinct list of models read every vector row (at a million products
    -- that took longer than the search). The query has no parameter, so no generic plan
    -- of it can fall back to reading every row either.
    if query_model is not null then
        select min(embedding.model_name), max(embedding.model_name) into lowest_model, highest_model
        from retail.product_description_embeddings as embedding;
        if lowest_model <> query_model or highest_model <> query_model then
            select array_agg(distinct embedding.model_name) into stored_models
            from retail.product_description_embeddings as embedding;
            raise exception 'the query was embedded by model %, but product embeddings come from %',
                query_model, array_to_string(stored_models, ', ')
                using errcode = 'data_exception',
                      hint = 'Re-embed the products (zava-mcp embed) or configure the same model.';
        end if;
    end if;

    return query
    with nearest as (
        select embedding.product_id, embedding.description_embedding <=> query_embedding as distance
        from retail.product_description_embeddings as embedding
        -- A scalar subquery rather than exists(): the planner turns exists() into a hash
        -- of every in-stock row the caller sees, a read of the whole inventory per call,
        -- where the index scan needs one index probe per candidate it reads (of
        -- inventory_in_stock_idx alone: the caller's stores' rows in stock).
        where
            not in_stock_only
            or (
                select true from retail.inventory as stock
                where stock.product_id = embedding.product_id and stock.stock_level > 0
                limit 1
            )
        order by embedding.description_embedding <=> query_embedding
        limit candidate_count
    ),

    vector_ranked as (
        select nearest.product_id, row_number() over (order by nearest.distance) as vector_rank
        from nearest
        where (1 - nearest.distance) * 100 >= min_similarity
    ),

    -- The text matches come ranked from mcp_internal.product_text_matches (SECURITY
    -- DEFINER, so that the GIN index serves them); the in-stock test and the final join
    -- with products see them through row level security again.
    text_ranked as (
        select
            matched.product_id,
            matched.text_rank,
            row_number() over (order by matched.text_position) as text_position
        from (
            -- In rank order first (OFFSET 0 keeps the stock test out of this subquery), so
            -- that the stock test runs on the best matches until enough are in stock, not
            -- on every match of a common word.
            select ordered.product_id, ordered.text_rank, ordered.text_position
            from (
                select match.product_id, match.text_rank, match.text_position
                from mcp_internal.product_text_matches(current_user, search_text) as match
                order by match.text_position
                offset 0
            ) as ordered
            where
                not in_stock_only
                or (
                    select true from retail.inventory as stock
                    where stock.product_id = ordered.product_id and stock.stock_level > 0
                    limit 1
                )
            order by ordered.text_position
            limit candidate_count
        ) as matched
    ),

    -- Materialized, so that the joins below see fused.product_id as a plain column: a
    -- join on the coalesce() of a full join counts as leaky to row level security, which
    -- then keeps it out of the index scans and reads every product and vector row.
    fused as materialized (
        select
            coalesce(vector_ranked.product_id, text_ranked.product_id) as product_id,
            text_ranked.text_rank,
            coalesce(1.0 / (rank_constant + vector_ranked.vector_rank), 0)
            + coalesce(1.0 / (rank_constant + text_ranked.text_position), 0) as score
        from vector_ranked
        full join text_ranked on vector_ranked.product_id = text_ranked.product_id
    )

    select
        product.product_id,
        product.sku,
        product.product_name,
        category.category_name,
        product_type.type_name,
        product.base_price,
        product.product_description,
        round(((1 - (embedding.description_embedding <=> query_embedding)) * 100)::numeric, 2),
        fused.text_rank,
        fused.score::double precision
    from fused
    inner join retail.products as product on fused.product_id = product.product_id
    inner join retail.categories as category on product.category_id = category.category_id
    inner join retail.product_types as product_type on product.type_id = product_type.type_id
    left join retail.product_description_embeddings as embedding on fused.product_id = embedding.product_id
    order by fused.score desc, product.product_id
    limit max_rows;
end;
$$;

comment on function mcp.search_products(vector, integer, real, text, boolean, text) is
'Products closest in meaning to a query embedding (similarity in percent), optionally fused with full-text matches on query_text and limited to products in stock at the caller''s stores.';

grant execute on function mcp.search_products(vector, integer, real, text, boolean, text) to {{ reader }};

reset role;
