-- Sample data, last step: the indexes dropped for the bulk load are built again, identity
-- sequences continue after the generated ids, the scratch schema goes, and the planner
-- learns the new row counts.
do $build_deferred$
declare
    deferred record;
begin
    for deferred in select definition from zava_seed.deferred_indexes order by index_name loop
        execute deferred.definition;
    end loop;
end;
$build_deferred$;

select setval(pg_get_serial_sequence('retail.stores', 'store_id'), (select max(store_id) from retail.stores));
select setval(pg_get_serial_sequence('retail.categories', 'category_id'), (select max(category_id) from retail.categories));
select setval(pg_get_serial_sequence('retail.product_types', 'type_id'), (select max(type_id) from retail.product_types));
select setval(pg_get_serial_sequence('retail.products', 'product_id'), (select max(product_id) from retail.products));
select setval(pg_get_serial_sequence('retail.customers', 'customer_id'), (select max(customer_id) from retail.customers));
select setval(pg_get_serial_sequence('retail.orders', 'order_id'), (select max(order_id) from retail.orders));
select setval(pg_get_serial_sequence('retail.order_items', 'order_item_id'), (select max(order_item_id) from retail.order_items));

drop schema zava_seed cascade;

analyze retail.stores, retail.customers, retail.categories, retail.product_types, retail.products,
retail.inventory, retail.orders, retail.order_items, retail.product_description_embeddings;
