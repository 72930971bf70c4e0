-- Sample data, step 6: stock of every product at every store; about one product in
-- twelve is out of stock at a given store, and the online warehouse holds more.
insert into retail.inventory (store_id, product_id, stock_level)
select
    store.store_id,
    product.product_id,
    case
        when zava_seed.fraction(store.store_id * 100000 + product.product_id, 60) < 0.08 then 0
        else 1 + floor(
            zava_seed.fraction(store.store_id * 100000 + product.product_id, 61)
            * case when store.is_online then 400 else 120 end
        )::integer
    end as stock_level
from retail.stores as store
cross join retail.products as product
order by store.store_id, product.product_id;
