-- Sample data, step 2: the catalog, from the CSV files in the order they list it.
insert into retail.categories (category_id, category_name)
select
    position,
    category_name
from zava_seed.catalog_categories
order by position;

insert into retail.product_types (type_id, category_id, type_name)
select
    type_.position,
    category.category_id,
    type_.type_name
from zava_seed.catalog_product_types as type_
inner join retail.categories as category on type_.category_name = category.category_name
order by type_.position;

insert into retail.products (
    product_id, sku, product_name, category_id, type_id, cost, base_price,
    gross_margin_percent, product_description
)
select
    product.position,
    product.sku,
    product.product_name,
    category.category_id,
    type_.type_id,
    product.cost,
    product.base_price,
    round((product.base_price - product.cost) / product.base_price * 100, 2) as gross_margin_percent,
    product.product_description
from zava_seed.catalog_products as product
inner join retail.categories as category on product.category_name = category.category_name
inner join retail.product_types as type_
    on product.type_name = type_.type_name and category.category_id = type_.category_id
order by product.position;

-- Popularity: a seeded shuffle of the products; rank 1 sells most.
create table zava_seed.product_popularity as
select
    row_number() over (order by zava_seed.fraction(product_id, 1), product_id) as popularity_rank,
    product_id,
    base_price
from retail.products;
create unique index on zava_seed.product_popularity (popularity_rank);
