-- Indexes for the analytic questions the tools answer (revenue by period, store,
-- product and category) and for the row level security filters on store_id.
set role {{ owner }};

create index if not exists orders_store_id_order_date_idx on retail.orders (store_id, order_date);
create index if not exists orders_customer_id_idx on retail.orders (customer_id);
create index if not exists order_items_store_id_product_id_idx on retail.order_items (store_id, product_id);
create index if not exists order_items_product_id_idx on retail.order_items (product_id);
create index if not exists customers_primary_store_id_idx on retail.customers (primary_store_id);
create index if not exists products_category_id_idx on retail.products (category_id);
create index if not exists products_type_id_idx on retail.products (type_id);
create index if not exists product_types_category_id_idx on retail.product_types (category_id);

-- The store-scoped indexes carry the columns the revenue questions read (orders.order_id to
-- join, order_items.order_id and total_amount to join and sum), so that one store's orders
-- and items are read from the index alone. The row level security filter,
-- store_id = any(<the visible stores>), is a parameter the planner cannot see when it plans,
-- so it estimates the filter to keep most of the table; with these indexes the scan of the
-- store's part of the index is still the cheapest plan for a store manager's order lines,
-- and for the orders when nothing else narrows them (monthly revenue by store) or a period
-- does (top 10 products last quarter, see the order_date index below).
-- The plain indexes of the same keys above are smaller, for store-scoped scans that read
-- the table anyway. Orders and customers also carry what "top customers by spend" joins
-- on and shows (orders.customer_id; customers' id and names): under the policy's guess
-- PostgreSQL read both tables whole for a store manager (sequential scans filtered by the
-- store list) where it now reads the store's part of these indexes alone (top 20 customers
-- by spend as Seattle's role, plain SQL in pgbench, old and new indexes taking turns:
-- 0.73x; as head office 0.92x; the other questions 0.95 to 1.01x).
do $$
begin
    -- Built before 2026-12-04 without customer_id.
    if
        pg_catalog.pg_get_indexdef(pg_catalog.to_regclass('retail.orders_store_id_order_date_covering_idx'))
        not like '%customer_id)'
    then
        drop index retail.orders_store_id_order_date_covering_idx;
    end if;
end;
$$;
create index if not exists orders_store_id_order_date_covering_idx
on retail.orders (store_id, order_date) include (order_id, customer_id);
create index if not exists order_items_store_id_product_id_covering_idx
on retail.order_items (store_id, product_id) include (order_id, total_amount);
create index if not exists customers_primary_store_id_covering_idx
on retail.customers (primary_store_id) include (customer_id, first_name, last_name);

-- Orders by date, with the store: the store condition of the row level security filter is
-- checked in the index, and the latest orders are read from its end. It replaces the
-- plain order_date index, which PostgreSQL picked for a store manager's period (its
-- estimate ties with the store's part of the covering index above, and a tie goes to the
-- cheaper first row); it then read every store's orders of the period from the table and
-- filtered out the others. With the store in this index, the covering store index wins.
-- Plain SQL as the principals' roles, old index against this one: scale 1, top 10
-- products last quarter as Seattle's manager (serial, as mcp.run_query runs it) 7.1 against
-- 5.5 ms; scale 10, a week's orders per day 0.32x as the manager and 0.55x as head office,
-- the 20 latest orders 0.63x as the manager; no principal's plan slower. The administrator's
-- unfiltered top 10 at scale 10 reads the quarter from the covering store index instead of
-- a parallel scan of this one: 1.19x (docs/benchmarks.md, row level security, before and
-- after). Same size at scale 10, 138 against 133 MiB at scale 100.
drop index if exists retail.orders_order_date_idx;
create index if not exists orders_order_date_store_id_idx on retail.orders (order_date, store_id);

-- An order's lines by order_id, with what the revenue questions read of them (the store for
-- the row level security filter, the product, the amount): a period's orders join their
-- lines from this index alone, one lookup per order. Without the included columns every
-- lookup also visits the table, and PostgreSQL prefers a hash join over all order lines
-- (top 10 products last quarter as head office through mcp.run_query: 14.7 ms with this
-- index, 37.7 ms with the plain one, row level security benchmark before and after).
-- It replaces the plain order_id index, which served the same lookups.
drop index if exists retail.order_items_order_id_idx;
create index if not exists order_items_order_id_covering_idx
on retail.order_items (order_id) include (store_id, product_id, total_amount);

-- The stock test of mcp.search_products' in_stock_only: for each candidate product, a row
-- in stock at a store the caller may see (the inventory policy adds
-- store_id = any(<the visible stores>)). Only rows in stock, store first: the test is read
-- from this index alone, and a store manager's tests all fall in their own store's part
-- of it (about 2 MB for 100,000 products in stock), which stays in memory, where an index
-- led by product_id sends each test to another page of a larger index and then of the
-- table. At 1,000,000 products, a hybrid search as Seattle's manager read 865 fewer pages
-- from outside shared buffers per call (3,940 instead of 4,805; docs/benchmarks.md,
-- vector search). There is deliberately no index on product_id alone any more: the
-- planner cannot see how many stores the policy's array holds (it assumes ten), so it
-- preferred that index and read a table page per test. Lookups of a product's stock
-- under row level security carry the store condition, and use this index or the primary
-- key (store_id, product_id).
drop index if exists retail.inventory_product_id_idx;
create index if not exists inventory_in_stock_idx
on retail.inventory (store_id, product_id) where stock_level > 0;

-- Full-text search on the stored document (mcp_internal.product_text_matches reads it).
-- Before the stored column, the document was a function with an expression index on it;
-- dropping the function drops that index too.
drop function if exists mcp_internal.product_search_document(text, text) cascade;
create index if not exists products_search_document_idx on retail.products using gin (search_document);

-- mcp.search_products checks that the stored vectors come from the query's model by the
-- lowest and highest name in this index, instead of reading every vector row.
create index if not exists product_description_embeddings_model_name_idx
on retail.product_description_embeddings (model_name);

-- Cosine distance, as the similarity percentage is 100 * (1 - cosine distance).
-- m 24 and ef_construction 128 rather than pgvector's 16 and 64: embeddings come in tight
-- clusters (a kind of product), and with the defaults the graph links some small clusters
-- so poorly that no search reaches them, whatever its ef_search. recall@10 (ef_search
-- 100) went from 0.956 to 0.999 at 100,000 clustered vectors with ef_construction 128,
-- and from 0.966 to 0.982 at 1,000,000 with m 24 on top, whose index was the same size
-- (1,953 MB) and took about as long to build as with m 16 (tests/bench/vectors.py).
create index if not exists product_description_embeddings_hnsw_idx
on retail.product_description_embeddings
using hnsw (description_embedding vector_cosine_ops)
with (m = 24, ef_construction = 128);

reset role;
