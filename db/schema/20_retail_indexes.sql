-- Indexes for the analytic questions the tools answer (revenue by period, store,
-- product and category) and for the row level security filters on store_id.
set role {{ owner }};

create index if not exists orders_store_id_order_date_idx on retail.orders (store_id, order_date);
create index if not exists orders_order_date_idx on retail.orders (order_date);
create index if not exists orders_customer_id_idx on retail.orders (customer_id);
create index if not exists order_items_order_id_idx on retail.order_items (order_id);
create index if not exists order_items_store_id_product_id_idx on retail.order_items (store_id, product_id);
create index if not exists order_items_product_id_idx on retail.order_items (product_id);
create index if not exists customers_primary_store_id_idx on retail.customers (primary_store_id);
create index if not exists inventory_product_id_idx on retail.inventory (product_id);
create index if not exists products_category_id_idx on retail.products (category_id);
create index if not exists products_type_id_idx on retail.products (type_id);
create index if not exists product_types_category_id_idx on retail.product_types (category_id);

-- The full-text index is created beside its function, in
-- db/functions/mcp_internal.product_search_document.sql.

-- Cosine distance, as the similarity percentage is 100 * (1 - cosine distance).
create index if not exists product_description_embeddings_hnsw_idx
on retail.product_description_embeddings
using hnsw (description_embedding vector_cosine_ops);

reset role;
