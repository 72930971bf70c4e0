-- Sample data, step 5: one to four lines per order (two on average). Popular products
-- sell more often; prices rise about 3 % a year towards today's list price; a quarter of
-- lines carry a discount, nearly half in November and December.
insert into retail.order_items (
    order_item_id, order_id, store_id, product_id, quantity, unit_price,
    discount_percent, discount_amount, total_amount
)
select
    priced.order_item_id,
    priced.order_id,
    priced.store_id,
    priced.product_id,
    priced.quantity,
    priced.unit_price,
    priced.discount_percent,
    round(priced.quantity * priced.unit_price * priced.discount_percent / 100.0, 2) as discount_amount,
    priced.quantity * priced.unit_price
    - round(priced.quantity * priced.unit_price * priced.discount_percent / 100.0, 2) as total_amount
from (
    select
        line.order_item_id,
        line.order_id,
        line.store_id,
        product.product_id,
        1 + floor(power(zava_seed.fraction(line.order_item_id, 51), 3) * 5)::integer as quantity,
        round(product.base_price * (1 - 0.03 * (2026 - extract(year from line.order_date))), 2) as unit_price,
        case
            when
                zava_seed.fraction(line.order_item_id, 52)
                < case when extract(month from line.order_date) in (11, 12) then 0.45 else 0.22 end
                then (array[5, 10, 10, 15, 20, 25])[1 + floor(zava_seed.fraction(line.order_item_id, 53) * 6)::integer]
            else 0
        end as discount_percent
    from (
        select
            row_number() over (order by sale.order_id, line_number) as order_item_id,
            sale.order_id,
            sale.store_id,
            sale.order_date
        from retail.orders as sale
        cross join lateral generate_series(
            1,
            case
                when zava_seed.fraction(sale.order_id, 50) < 0.40 then 1
                when zava_seed.fraction(sale.order_id, 50) < 0.70 then 2
                when zava_seed.fraction(sale.order_id, 50) < 0.90 then 3
                else 4
            end
        ) as line_number
    ) as line
    inner join zava_seed.product_popularity as product
        on
            product.popularity_rank
            = 1 + floor(power(zava_seed.fraction(line.order_item_id, 54), 1.8) * (select count(*) from zava_seed.product_popularity))
) as priced
order by priced.order_item_id;
