-- Sample data, step 0: empty the retail tables and create the generator's helpers in a
-- scratch schema (dropped by 90_finish.sql). Settings read by every step:
--   zava_seed.seed  the random seed (same seed, same data)
--   zava_seed.scale the size factor (1 = about 50,000 customers and 200,000 orders)
truncate retail.order_items, retail.orders, retail.inventory, retail.customers,
retail.product_description_embeddings, retail.products, retail.product_types,
retail.categories, retail.stores
restart identity;

drop schema if exists zava_seed cascade;
create schema zava_seed;

-- A deterministic pseudo-random number in [0, 1) for a key and a stream: a hash, not a
-- random() call, so the data do not depend on the order in which rows are produced.
create function zava_seed.fraction(key bigint, stream integer)
returns double precision
language sql
stable
parallel safe
return (
    hashint8extended(key, current_setting('zava_seed.seed')::bigint * 1000 + stream)
    & 9007199254740991  -- keep 53 bits: exact in a double
)::double precision / 9007199254740992.0;

create function zava_seed.scale()
returns numeric
language sql
stable
parallel safe
return current_setting('zava_seed.scale')::numeric;

-- The catalog CSV files (db/seed/catalog/) are copied into these by the loader.
create table zava_seed.catalog_categories (
    position integer generated always as identity,
    category_name text not null
);
create table zava_seed.catalog_product_types (
    position integer generated always as identity,
    category_name text not null,
    type_name text not null
);
create table zava_seed.catalog_products (
    position integer generated always as identity,
    sku text not null,
    product_name text not null,
    category_name text not null,
    type_name text not null,
    cost numeric(10, 2) not null,
    base_price numeric(10, 2) not null,
    product_description text not null
);

-- The secondary indexes of the tables filled in bulk (customers, orders, order_items) go
-- now and come back in 90_finish.sql, each built in one sort. Filled row by row, an index
-- whose key does not follow the insert order (orders by customer_id) and that outgrows
-- shared_buffers costs a page write for nearly every row: at scale 100 the orders step
-- took 634 s, 15 times its scale-10 time. Indexes behind constraints (primary keys, the
-- unique emails) stay: the foreign keys need them. The definitions are kept verbatim, so
-- the indexes come back as the schema made them.
create table zava_seed.deferred_indexes as
select
    index_class.oid::regclass::text as index_name,
    pg_get_indexdef(index_class.oid) as definition
from pg_index as found
inner join pg_class as index_class on found.indexrelid = index_class.oid
where
    found.indrelid in ('retail.customers'::regclass, 'retail.orders'::regclass, 'retail.order_items'::regclass)
    and not exists (
        select from pg_constraint as owning
        where owning.conindid = found.indexrelid
    );

do $drop_deferred$
declare
    deferred record;
begin
    for deferred in select index_name from zava_seed.deferred_indexes loop
        execute format('drop index %s', deferred.index_name);
    end loop;
end;
$drop_deferred$;
