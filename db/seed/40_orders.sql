-- Sample data, step 4: about 200,000 * scale orders from 2020-01-01 to 2026-10-31. Each
-- store's daily count follows its share, yearly growth, the season (spring and
-- December peak, January trough) and the weekend; each order is placed by a customer of
-- its store, some customers far more often than others.
create table zava_seed.days as
select
    day::date as day,
    (1 + 0.08 * (extract(year from day) - 2020))
    * (array[0.70, 0.75, 1.00, 1.25, 1.35, 1.25, 1.10, 1.00, 0.95, 0.90, 1.05, 1.25])[extract(month from day)::integer]
    * case when extract(isodow from day) >= 6 then 1.35 else 0.90 end as weight
from generate_series(date '2020-01-01', date '2026-10-31', interval '1 day') as day;

create table zava_seed.store_days as
select
    profile.store_id,
    day.day,
    200000 * zava_seed.scale() * profile.share / (select sum(every_store.share) from zava_seed.store_profile as every_store)
    * day.weight / (select sum(every_day.weight) from zava_seed.days as every_day) as expected_orders
from zava_seed.store_profile as profile
cross join zava_seed.days as day;

-- Randomised rounding keeps the expected total; row_number gives stable order ids.
insert into retail.orders (order_id, customer_id, store_id, order_date)
select
    numbered.order_id,
    store_customer.customer_id,
    numbered.store_id,
    numbered.day
from (
    select
        row_number() over (order by store_day.day, store_day.store_id, slot) as order_id,
        store_day.store_id,
        store_day.day
    from zava_seed.store_days as store_day
    cross join lateral generate_series(
        1,
        floor(
            store_day.expected_orders
            * (0.8 + 0.4 * zava_seed.fraction((store_day.day - date '2020-01-01') * 16 + store_day.store_id, 40))
            + zava_seed.fraction((store_day.day - date '2020-01-01') * 16 + store_day.store_id, 41)
        )::integer
    ) as slot
) as numbered
inner join (
    select
        store_id,
        count(*) as customer_count
    from zava_seed.store_customers
    group by store_id
) as store_size on numbered.store_id = store_size.store_id
inner join zava_seed.store_customers as store_customer
    on
        numbered.store_id = store_customer.store_id
        and store_customer.store_position
        = 1 + floor(power(zava_seed.fraction(numbered.order_id, 42), 1.5) * store_size.customer_count)
order by numbered.order_id;
