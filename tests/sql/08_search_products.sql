-- mcp.search_products: semantic product search over retail.product_description_embeddings.
-- The fixture gives eight products vectors at known angles to the basis vector e1, so that
-- every cosine similarity is known exactly; the tests cover ordering, similarity_percent,
-- min_similarity, max_rows, the full-text half of hybrid search, in_stock_only under row
-- level security, the dimension and model checks, argument validation and an unknown
-- principal.
begin;
select plan(38);

-- The start-up warning when shared_buffers cannot hold what search reads.
select
    pg_catalog.pg_total_relation_size('retail.products')
    + pg_catalog.pg_total_relation_size('retail.product_description_embeddings')
    + pg_catalog.pg_total_relation_size('retail.inventory') as searched_bytes
\gset
select is(
    mcp_internal.search_cache_warning(),
    null,
    'no cache warning for the test database, which fits in shared_buffers'
);
select is(
    mcp_internal.search_cache_warning(:searched_bytes),
    null,
    'no cache warning for a cache exactly as large as the searched tables and their indexes'
);
select matches(
    mcp_internal.search_cache_warning(:searched_bytes - 1),
    format(
        '^shared_buffers \(%s\) cannot hold what semantic search reads \(%s: ',
        pg_catalog.pg_size_pretty((:searched_bytes - 1)::bigint), pg_catalog.pg_size_pretty(:searched_bytes::bigint)
    ),
    'a cache one byte smaller than the searched tables and their indexes gets a warning naming both sizes'
);

-- The fixture, written as the owner before any binding makes the transaction read-only.
-- The stored vectors' dimension comes from the column, not from this file. Vectors are
-- built from their text form.
select attribute.atttypmod as embedding_dim
from pg_catalog.pg_attribute as attribute
where attribute.attrelid = 'retail.product_description_embeddings'::regclass and attribute.attname = 'description_embedding'
\gset

-- Similarity to e1 of each fixture vector (only the leading components are non-zero):
--   a (1)          100.00     b (4, 3)      80.00     c (3, 4)        60.00
--   d (1, 1)        70.71     e (0, 0, 1)    0.00     f (-1)        -100.00
--   g (1, 2, 2)     33.33     h (1, 2, 2, 4) 20.00
create temp table fixture_embedding as
select
    fixture.letter,
    product.product_id,
    (
        '['
        || array_to_string(
            fixture.components || array_fill(0, array[:embedding_dim - cardinality(fixture.components)]), ','
        )
        || ']'
    )::vector as description_embedding
from (
    values
    (1, 'a', '{1}'::integer[]),
    (2, 'b', '{4, 3}'),
    (3, 'c', '{3, 4}'),
    (4, 'd', '{1, 1}'),
    (5, 'e', '{0, 0, 1}'),
    (6, 'f', '{-1}'),
    (7, 'g', '{1, 2, 2}'),
    (8, 'h', '{1, 2, 2, 4}')
) as fixture (position, letter, components)
inner join (
    select
        catalog_product.product_id,
        row_number() over (order by catalog_product.product_id) as position
    from retail.products as catalog_product
) as product on fixture.position = product.position;

-- The fixture is the only set of embeddings.
delete from retail.product_description_embeddings;
insert into retail.product_description_embeddings (product_id, description_embedding, model_name)
select
    fixture.product_id,
    fixture.description_embedding,
    'test-model' as model_name
from fixture_embedding as fixture;

select
    max(product_id) filter (where letter = 'a') as product_a,
    max(product_id) filter (where letter = 'b') as product_b,
    max(product_id) filter (where letter = 'c') as product_c,
    max(product_id) filter (where letter = 'd') as product_d,
    max(product_id) filter (where letter = 'e') as product_e,
    max(product_id) filter (where letter = 'g') as product_g,
    max(product_id) filter (where letter = 'h') as product_h,
    max(description_embedding::text) filter (where letter = 'a') as query_a,
    max(description_embedding::text) filter (where letter = 'b') as query_b
from fixture_embedding \gset
select product.product_name as name_e
from retail.products as product
where product.product_id = :product_e \gset
select store.store_id as seattle_store
from retail.stores as store
where store.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gset

-- Stock: every fixture product is in stock everywhere, except b and e, out of stock at
-- Seattle only, and c, out of stock at every store.
update retail.inventory as stock set stock_level = 7
where stock.product_id in (select fixture.product_id from fixture_embedding as fixture);
update retail.inventory as stock set stock_level = 0
where
    (stock.product_id in (:product_b, :product_e) and stock.store_id = :seattle_store)
    or stock.product_id = :product_c;

-- For the text helper's shortcut: 400 products holding both of two made-up words (as many
-- as mcp_internal.product_text_matches needs to rank only those) and one holding the
-- first alone.
insert into retail.products (
    sku, product_name, category_id, type_id, cost, base_price, gross_margin_percent, product_description
)
select
    'TIER-' || probe.n as sku,
    'Tier probe ' || probe.n as product_name,
    template.category_id,
    template.type_id,
    1 as cost,
    2 as base_price,
    50 as gross_margin_percent,
    case when probe.n <= 400 then 'quxtier quxmate number ' || probe.n else 'quxtier alone' end as product_description
from generate_series(1, 401) as probe (n)
cross join (
    select
        first_product.category_id,
        first_product.type_id
    from retail.products as first_product
    order by first_product.product_id
    limit 1
) as template;

-- As Seattle's manager. (Savepoints undo a binding; they are issued through psql's \gexec
-- because sqlfluff's postgres dialect cannot parse SAVEPOINT.)
select 'savepoint as_seattle' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');

select is(
    array(select found.product_id from mcp.search_products(:'query_a'::vector) as found),
    array[:product_a, :product_b, :product_d, :product_c, :product_g],
    'products come nearest first, and those below the default 30 % similarity are left out'
);
select is(
    array(select found.similarity_percent from mcp.search_products(:'query_a'::vector) as found),
    array[100.00, 80.00, 70.71, 60.00, 33.33]::numeric[],
    'similarity_percent is 100 times the cosine similarity, rounded to two decimals'
);
select is(
    array(
        select found.product_id::text || ' ' || found.similarity_percent::text
        from mcp.search_products(:'query_b'::vector, 3) as found
    ),
    array[:product_b || ' 100.00', :product_d || ' 98.99', :product_c || ' 96.00'],
    'a query equal to product b''s vector finds b first at 100.00, then the products at the nearest angles'
);
select is(
    array(select found.product_id from mcp.search_products(:'query_a'::vector, 20, 65) as found),
    array[:product_a, :product_b, :product_d],
    'min_similarity 65 leaves out the products below 65 %'
);
select is(
    array(select found.product_id from mcp.search_products(:'query_a'::vector, 20, 100) as found),
    array[:product_a],
    'min_similarity 100 keeps only the product whose vector points the same way'
);
select is(
    array(select found.product_id from mcp.search_products(:'query_a'::vector, 20, 0) as found),
    array[:product_a, :product_b, :product_d, :product_c, :product_g, :product_h, :product_e],
    'min_similarity 0 keeps the orthogonal product but not the opposite one'
);
select is(
    array(select found.product_id from mcp.search_products(:'query_a'::vector, 2) as found),
    array[:product_a, :product_b],
    'max_rows 2 returns the two nearest products'
);
select ok(
    :product_e = any(array(
        select found.product_id
        from mcp.search_products(:'query_a'::vector, query_text => :'name_e') as found
    )),
    'with query_text, a product whose name matches the words is found although its vector is far'
);
select is(
    (
        select found.similarity_percent
        from mcp.search_products(:'query_a'::vector, query_text => :'name_e') as found
        where found.product_id = :product_e
    ),
    0.00,
    'a product found by its words still reports its own low similarity'
);
select ok(
    :product_e <> all(array(select found.product_id from mcp.search_products(:'query_a'::vector) as found)),
    'without query_text, the same far product is left out'
);
select is(
    array(
        select found.product_id
        from mcp.search_products(:'query_a'::vector, in_stock_only => true) as found
    ),
    array[:product_a, :product_d, :product_g],
    'with in_stock_only, Seattle''s manager gets no product out of stock at Seattle'
);
select ok(
    :product_e <> all(array(
        select found.product_id
        from mcp.search_products(:'query_a'::vector, query_text => :'name_e', in_stock_only => true) as found
    )),
    'with in_stock_only, a full-text match out of stock at Seattle is left out too'
);
-- Descriptions as people type them: any of the words matches, more of them rank higher.
select is(
    array(
        select phrase.query_text
        from (
            values ('waterproof electrical connectors'), ('cordless drill for decking'), ('stain to protect a deck')
        ) as phrase (query_text)
        where not exists (
            select from mcp.search_products(:'query_a'::vector, 20, 100, phrase.query_text) as found
            where found.text_rank is not null
        )
    ),
    array[]::text[],
    'each of three descriptions as people type them gets full-text matches in the sample catalog, though no product holds all its words'
);
select ok(
    (
        select product.search_document @@ to_tsquery('english', 'stain & protect & deck')
        from mcp.search_products(:'query_a'::vector, 20, 100, 'stain to protect a deck') as found
        inner join retail.products as product on found.product_id = product.product_id
        where found.text_rank is not null
        order by found.text_rank desc
        limit 1
    ),
    'the best full-text match holds every word of the query (stop words aside)'
);
select is(
    (
        select array_agg(found.text_rank order by found.text_rank desc)
        from mcp.search_products(:'query_a'::vector, 20, 100, 'stain to protect a deck') as found
        where found.text_rank is not null
    ),
    (
        select array_agg(expected.text_rank order by expected.text_rank desc)
        from (
            select
                (
                    length(product.search_document)
                    - length(ts_delete(product.search_document, array['stain', 'protect', 'deck']))
                    + ts_rank_cd(product.search_document, to_tsquery('english', 'stain | protect | deck'), 32)
                )::real as text_rank
            from mcp.search_products(:'query_a'::vector, 20, 100, 'stain to protect a deck') as found
            inner join retail.products as product on found.product_id = product.product_id
            where found.text_rank is not null
        ) as expected
    ),
    'text_rank is the number of the query''s words a product holds plus ts_rank_cd below 1'
);
select throws_ok(
    $$select * from mcp.search_products('[1, 2, 3]'::vector)$$,
    '22000',
    format('the query embedding has 3 dimensions, but product embeddings have %s', :embedding_dim),
    'a query embedding of the wrong dimension is refused'
);
select throws_ok(
    $$select * from mcp.search_products(null)$$,
    '22004',
    'search_products needs a query embedding, not null',
    'a null query embedding is refused'
);
select throws_ok(
    format($$select * from mcp.search_products(%L::vector, query_model => 'other-model')$$, :'query_a'),
    '22000',
    'the query was embedded by model other-model, but product embeddings come from test-model',
    'a query embedded by another model than the products is refused'
);
select is(
    array(
        select found.product_id
        from mcp.search_products(:'query_a'::vector, query_model => 'test-model') as found
    ),
    array[:product_a, :product_b, :product_d, :product_c, :product_g],
    'a query embedded by the products'' model is accepted'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, 0)', :'query_a'),
    '22023',
    'max_rows must be between 1 and 200, not 0',
    'max_rows 0 is refused'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, 201)', :'query_a'),
    '22023',
    'max_rows must be between 1 and 200, not 201',
    'max_rows above 200 is refused'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, null)', :'query_a'),
    '22023',
    'max_rows must be between 1 and 200, not null',
    'a null max_rows is refused'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, 20, -1)', :'query_a'),
    '22023',
    'min_similarity is a percentage between 0 and 100, not -1',
    'a negative min_similarity is refused'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, 20, 101)', :'query_a'),
    '22023',
    'min_similarity is a percentage between 0 and 100, not 101',
    'min_similarity above 100 is refused'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, 20, null)', :'query_a'),
    '22023',
    'min_similarity is a percentage between 0 and 100, not null',
    'a null min_similarity is refused'
);
select throws_ok(
    format('select * from mcp.search_products(%L::vector, in_stock_only => null)', :'query_a'),
    '22023',
    'in_stock_only must be true or false, not null',
    'a null in_stock_only is refused'
);
select 'rollback to savepoint as_seattle' \gexec

-- As head office, which sees the stock of every store.
select 'savepoint as_head_office' \gexec
select mcp.bind_principal('00000000-0000-0000-0000-000000000000');
select is(
    array(
        select found.product_id
        from mcp.search_products(:'query_a'::vector, in_stock_only => true) as found
    ),
    array[:product_a, :product_b, :product_d, :product_g],
    'with in_stock_only, head office keeps a product out of stock at Seattle but in stock elsewhere'
);
select ok(
    :product_e = any(array(
        select found.product_id
        from mcp.search_products(:'query_a'::vector, query_text => :'name_e', in_stock_only => true) as found
    )),
    'with in_stock_only, head office keeps a full-text match in stock at another store'
);
select is(
    array(select found.product_id from mcp.search_products(:'query_a'::vector) as found),
    array[:product_a, :product_b, :product_d, :product_c, :product_g],
    'without in_stock_only, head office finds the products out of stock everywhere as well'
);
select is(
    array(
        select match.product_id from mcp_internal.product_text_matches(current_user, 'quxtier quxmate') as match
        order by match.product_id
    ),
    array(
        select product.product_id from retail.products as product
        where product.sku like 'TIER-%' and product.product_description like '%quxmate%'
        order by product.product_id
    ),
    'when 400 products hold every word, exactly those are ranked: they come before any holding fewer'
);
select is(
    (
        select match.text_position from mcp_internal.product_text_matches(current_user, 'quxtier quxmate quxnobody') as match
        inner join retail.products as product on match.product_id = product.product_id
        where product.product_description = 'quxtier alone'
    ),
    401::bigint,
    'when fewer hold every word, products holding some are ranked too, fewer words lower'
);
select is(
    (select count(*) from mcp_internal.product_text_matches(current_user, 'quxtier quxmate quxnobody')),
    401::bigint,
    'and every product holding any of the words is among them'
);
select 'rollback to savepoint as_head_office' \gexec

-- As an unknown principal, who sees no catalog at all.
select mcp.bind_principal('11111111-1111-1111-1111-111111111111');
select is_empty(
    format('select * from mcp.search_products(%L::vector, 20, 0)', :'query_a'),
    'an unknown principal finds no products by vector'
);
select is_empty(
    format('select * from mcp.search_products(%L::vector, 20, 0, %L)', :'query_a', :'name_e'),
    'an unknown principal finds no products by their words'
);
select lives_ok(
    format($$select * from mcp.search_products(%L::vector, query_model => 'other-model')$$, :'query_a'),
    'an unknown principal learns nothing of the stored model: no model mismatch is reported'
);

select * from finish();
rollback;
