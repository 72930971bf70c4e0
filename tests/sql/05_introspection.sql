-- Schema introspection: the contracts of mcp.list_tables (the nine retail tables with
-- description, row estimate and row level security) and mcp.describe_tables (name forms,
-- one entry per distinct table in request order, columns, keys, indexes, checks, and the
-- sample values and date ranges as the caller sees them; clear errors for bad input, and
-- table names that are only ever compared with the catalog, never run as SQL).
-- Expected values are the owner's, computed before any binding.
-- (Savepoints undo a binding; they are issued through psql's \gexec because sqlfluff's
-- postgres dialect cannot parse SAVEPOINT.)
begin;
select plan(34);

-- The owner's answers (the superuser bypasses row level security).
select jsonb_agg(store_name order by store_name) as store_names
from retail.stores \gset
select jsonb_agg(category_name order by category_name) as category_names
from retail.categories \gset
select
    count(*) as seattle_orders,
    jsonb_build_object('min', min(order_date), 'max', max(order_date)) as seattle_order_dates
from retail.orders
where store_id = 1 \gset
-- The documented list of valid tables that an unknown-table error names.
select 'retail.categories, retail.customers, retail.inventory, retail.order_items, retail.orders, retail.product_description_embeddings, retail.product_types, retail.products, retail.stores' as valid_tables \gset

-- A column with a unique index has a value per row: once its table is estimated at more
-- rows than are listed, its values are not read (stores, whose eight names are listed
-- below, estimated at 61 rows for this test alone; the superuser reads every row).
select reltuples as stores_reltuples
from pg_catalog.pg_class
where oid = 'retail.stores'::regclass \gset
update pg_catalog.pg_class set reltuples = 61
where oid = 'retail.stores'::regclass;
select is(
    mcp.describe_tables(array['stores']) #> '{0,sample_values}',
    '{}'::jsonb,
    'a unique column of a table estimated at more than 60 rows lists no values'
);
update pg_catalog.pg_class set reltuples = :'stores_reltuples'
where oid = 'retail.stores'::regclass;

-- Seattle's manager (store 1) asks.
select 'savepoint as_seattle' \gexec
select mcp.bind_principal('f47ac10b-58cc-4372-a567-0e02b2c3d479');

-- mcp.list_tables
select results_eq(
    'select table_name from mcp.list_tables()',
    $$values
        ('retail.categories'),
        ('retail.customers'),
        ('retail.inventory'),
        ('retail.order_items'),
        ('retail.orders'),
        ('retail.product_description_embeddings'),
        ('retail.product_types'),
        ('retail.products'),
        ('retail.stores')$$,
    'list_tables names exactly the nine retail tables, schema-qualified, in name order'
);
select is_empty(
    $$select table_name from mcp.list_tables() where coalesce(btrim(description), '') = ''$$,
    'list_tables gives every table a non-empty description'
);
select is_empty(
    'select table_name from mcp.list_tables() where not row_level_security',
    'list_tables reports row level security on every table'
);
select is_empty(
    'select table_name from mcp.list_tables() where estimated_rows is null',
    'list_tables gives every table a row estimate once the seed has run ANALYZE'
);

-- mcp.describe_tables: names
select is(
    mcp.describe_tables(array['orders']) -> 0 ->> 'table_name',
    'retail.orders',
    'describe_tables names the table it describes by its schema-qualified name'
);
select is(
    mcp.describe_tables(array['retail.orders']),
    mcp.describe_tables(array['orders']),
    'retail.orders describes the same table as orders'
);
select is(
    mcp.describe_tables(array[' Orders ']),
    mcp.describe_tables(array['orders']),
    'table names are trimmed and case-insensitive: '' Orders '' describes orders'
);
select is(
    (
        select jsonb_agg(described.entry ->> 'table_name' order by described.position)
        from jsonb_array_elements(
            mcp.describe_tables(array['stores', 'orders', 'retail.stores', ' ORDERS ', 'categories'])
        ) with ordinality as described (entry, position)
    ),
    '["retail.stores", "retail.orders", "retail.categories"]'::jsonb,
    'describe_tables returns one entry per distinct table, in the order each was first requested'
);

-- mcp.describe_tables: columns
select is(
    jsonb_path_query_array(mcp.describe_tables(array['orders']), '$[0].columns[*].name'),
    '["order_id", "customer_id", "store_id", "order_date"]'::jsonb,
    'the orders columns come in table order'
);
select results_eq(
    $$select
          described.entry ->> 'name',
          described.entry ->> 'type',
          (described.entry ->> 'nullable')::boolean,
          described.entry ->> 'description'
      from jsonb_array_elements(mcp.describe_tables(array['customers']) -> 0 -> 'columns')
          with ordinality as described (entry, position)
      order by described.position$$,
    $$select attname::text collate "default", format_type(atttypid, atttypmod), not attnotnull, col_description(attrelid, attnum)
      from pg_attribute
      where attrelid = 'retail.customers'::regclass and attnum > 0 and not attisdropped
      order by attnum$$,
    'each customers column comes with its type, whether it is nullable (phone is) and its comment'
);
select is_empty(
    $$select described.entry ->> 'table_name'
      from jsonb_array_elements(mcp.describe_tables(array(select table_name from mcp.list_tables())))
          as described (entry)
      cross join jsonb_array_elements(described.entry -> 'columns') as listed_column (entry)
      where coalesce(btrim(listed_column.entry ->> 'description'), '') = ''$$,
    'every column of every retail table has a comment for the model to read'
);

-- mcp.describe_tables: keys, indexes, checks
select is(
    mcp.describe_tables(array['orders']) -> 0 -> 'primary_key',
    '["order_id"]'::jsonb,
    'the orders primary key is order_id'
);
select is(
    mcp.describe_tables(array['inventory']) -> 0 -> 'primary_key',
    '["store_id", "product_id"]'::jsonb,
    'a composite primary key lists its columns in key order'
);
select is(
    (
        select jsonb_agg(foreign_key.entry - 'name' order by foreign_key.entry ->> 'references_table')
        from jsonb_array_elements(mcp.describe_tables(array['orders']) -> 0 -> 'foreign_keys') as foreign_key (entry)
    ),
    $$[{"columns": ["customer_id"], "references_table": "retail.customers", "references_columns": ["customer_id"]},
       {"columns": ["store_id"], "references_table": "retail.stores", "references_columns": ["store_id"]}]$$::jsonb,
    'orders has foreign keys to customers and to stores, with their columns'
);
set local search_path = retail, public;
select is(
    jsonb_path_query_array(mcp.describe_tables(array['orders']), '$[0].foreign_keys[*].references_table'),
    '["retail.customers", "retail.stores"]'::jsonb,
    'foreign key targets are schema-qualified like table_name, whatever the search_path (a principal''s login role puts retail first)'
);
set local search_path to default;
select results_eq(
    $$select listed_index.entry ->> 'name', listed_index.entry ->> 'definition'
      from jsonb_array_elements(mcp.describe_tables(array['orders']) -> 0 -> 'indexes')
          with ordinality as listed_index (entry, position)
      order by listed_index.position$$,
    $$select indexname::text collate "default", indexdef
      from pg_indexes
      where schemaname = 'retail' and tablename = 'orders'
      order by indexname$$,
    'describe_tables lists every index of orders with its definition'
);
select is(
    jsonb_path_query_first(
        mcp.describe_tables(array['order_items']),
        '$[0].check_constraints[*] ? (@.name == "order_items_discount_percent_check").definition'
    ),
    '"CHECK (((discount_percent >= 0) AND (discount_percent <= 100)))"'::jsonb,
    'the order_items check that discount_percent lies between 0 and 100 is listed'
);
select is(
    (mcp.describe_tables(array['orders']) -> 0 ->> 'estimated_rows')::bigint,
    (
        select estimated_rows from mcp.list_tables()
        where table_name = 'retail.orders'
    ),
    'describe_tables and list_tables agree on the row estimate of orders'
);

-- mcp.describe_tables: values, as the caller sees them
select is(
    mcp.describe_tables(array['stores']) #> '{0,sample_values,store_name}',
    :'store_names'::jsonb,
    'the sample values of stores.store_name are the names of all stores'
);
select is(
    mcp.describe_tables(array['categories']) #> '{0,sample_values,category_name}',
    :'category_names'::jsonb,
    'the sample values of categories.category_name are all the categories'
);
select is(
    mcp.describe_tables(array['products']) #> '{0,sample_values}',
    '{}'::jsonb,
    'columns with more than 60 values (product names, SKUs, descriptions) list no sample values'
);
select is(
    mcp.describe_tables(array['orders']) #> '{0,value_ranges,order_date}',
    :'seattle_order_dates'::jsonb,
    'Seattle''s manager sees the order_date range of Seattle''s orders only'
);

-- mcp.describe_tables: bad input
select throws_ok(
    $$select mcp.describe_tables(array['nope'])$$,
    '42P01',
    'unknown table "nope"; the tables are: ' || :'valid_tables',
    'an unknown table name is an error that lists the valid tables'
);
select throws_ok(
    $$select mcp.describe_tables(array[]::text[])$$,
    '22023',
    'describe_tables needs at least one table name',
    'an empty list of table names is refused'
);
select throws_ok(
    'select mcp.describe_tables(null)',
    '22023',
    'describe_tables needs at least one table name',
    'a null list of table names is refused'
);
select throws_ok(
    $$select mcp.describe_tables(array_fill('orders'::text, array[51]))$$,
    '22023',
    'describe_tables takes at most 50 table names, not 51',
    'more than 50 table names are refused'
);
select is(
    jsonb_array_length(mcp.describe_tables(array_fill('orders'::text, array[50]))),
    1,
    'fifty table names are accepted (here all the same table, described once)'
);

-- mcp.describe_tables: names are compared with the catalog, never run
select throws_ok(
    $$select mcp.describe_tables(array['orders; drop table retail.orders'])$$,
    '42P01',
    'unknown table "orders; drop table retail.orders"; the tables are: ' || :'valid_tables',
    'a stacked statement as a table name is an unknown table'
);
select throws_ok(
    $$select mcp.describe_tables(array['orders'' or 1=1 --'])$$,
    '42P01',
    'unknown table "orders'' or 1=1 --"; the tables are: ' || :'valid_tables',
    'a quote-breaking table name is an unknown table'
);
select throws_ok(
    $$select mcp.describe_tables(array['"orders"'])$$,
    '42P01',
    'unknown table ""orders""; the tables are: ' || :'valid_tables',
    'a quoted identifier as a table name is an unknown table'
);
select is(
    (select count(*) from retail.orders),
    :seattle_orders::bigint,
    'after the injection attempts retail.orders is still there with every Seattle order'
);
select 'rollback to savepoint as_seattle' \gexec

-- An unknown principal learns no values. (Last, and outside any savepoint: pgTAP counts
-- results in a temp table that ROLLBACK TO SAVEPOINT rolls back too, and finish() reads
-- the count of the last assertion that survived.)
select mcp.bind_principal('11111111-1111-1111-1111-111111111111');
select is(
    mcp.describe_tables(array['stores']) #> '{0,sample_values}',
    '{}'::jsonb,
    'an unknown principal gets no store names from describe_tables'
);
select is(
    mcp.describe_tables(array['orders']) #> '{0,value_ranges,order_date}',
    '{"min": null, "max": null}'::jsonb,
    'an unknown principal gets no order dates from describe_tables'
);

select * from finish();
rollback;
