-- Row level security on every retail table, for every kind of principal, each logged in as
-- its own role as a tool call is (the session user is the principal's role, read from
-- mcp_internal.principal_roles): head office sees every row; a store manager sees exactly
-- their store's rows of the per-store tables (orders, order_items, inventory by store_id;
-- customers by primary_store_id) and the whole catalog (stores, categories, product_types,
-- products, embeddings); an unknown principal (which has no role: the DBA's
-- mcp.bind_principal gives it the bare reader role) and the reader role itself see nothing at
-- all. Expected answers are the owner's (the superuser bypasses row level security), computed
-- before switching to any role. Also: the policy looks up the caller's stores once per query
-- (an InitPlan), not once per row.
-- (Savepoints undo a switch of role. They, and SET SESSION AUTHORIZATION to the role the
-- mapping names, are issued through psql's \gexec: sqlfluff's postgres dialect cannot parse
-- SAVEPOINT, and a role's name is known only at run time.)
begin;
select plan(47);

-- Fixture: the seed has no embeddings; give two products one each so that the table can
-- show whether a caller sees its rows.
insert into retail.product_description_embeddings (product_id, description_embedding, model_name)
select
    product.product_id,
    ('[' || array_to_string(array_fill(0, array[383]) || array[1], ',') || ']')::vector as description_embedding,
    'policy-test-model' as model_name
from retail.products as product
order by product.product_id
limit 2;

-- What the current caller sees of every retail table: one row per catalog table (store_id
-- null) and one row per store of each per-store table. security_invoker: the caller's
-- privileges and policies apply, not the view owner's.
create temp view visible_rows with (security_invoker = true) as
select
    'retail.stores' as table_name,
    null::integer as store_id,
    count(*) as row_count
from retail.stores
union all
select
    'retail.categories' as table_name,
    null::integer as store_id,
    count(*) as row_count
from retail.categories
union all
select
    'retail.product_types' as table_name,
    null::integer as store_id,
    count(*) as row_count
from retail.product_types
union all
select
    'retail.products' as table_name,
    null::integer as store_id,
    count(*) as row_count
from retail.products
union all
select
    'retail.product_description_embeddings' as table_name,
    null::integer as store_id,
    count(*) as row_count
from retail.product_description_embeddings
union all
select
    'retail.customers' as table_name,
    primary_store_id as store_id,
    count(*) as row_count
from retail.customers
group by primary_store_id
union all
select
    'retail.orders' as table_name,
    store_id,
    count(*) as row_count
from retail.orders
group by store_id
union all
select
    'retail.order_items' as table_name,
    store_id,
    count(*) as row_count
from retail.order_items
group by store_id
union all
select
    'retail.inventory' as table_name,
    store_id,
    count(*) as row_count
from retail.inventory
group by store_id;

-- The owner's view (the superuser bypasses row level security): every row of every table.
create temp table owner_rows as
select * from visible_rows;

grant select on visible_rows, owner_rows to zava_reader;

select
    count(*) as all_orders,
    count(*) filter (where store_id = 1) as seattle_orders,
    count(*) filter (where store_id = 6) as redmond_orders
from retail.orders \gset
select
    count(*) as all_order_items,
    count(*) filter (where store_id = 1) as seattle_order_items,
    count(*) filter (where store_id = 6) as redmond_order_items
from retail.order_items \gset
-- The planner's estimate of a query's rows, as whoever calls it (mcp.explain_query leaves
-- estimates out of its plans), and the owner's estimate of all order lines.
create function pg_temp.estimated_rows(query text)
returns numeric
language plpgsql
as $$
declare
    plan json;
begin
    execute 'explain (format json) ' || query into plan;
    return (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric;
end;
$$;
select pg_temp.estimated_rows('select * from retail.order_items') as owner_order_items_estimate \gset
-- The text of a query's plan as whoever calls it, conditions included.
create function pg_temp.plan_text(query text)
returns text
language plpgsql
as $$
declare
    line text;
    plan text := '';
begin
    for line in execute 'explain ' || query loop
        plan := plan || line || e'\n';
    end loop;
    return plan;
end;
$$;
select
    count(*) as all_inventory,
    count(*) filter (where store_id = 1) as seattle_inventory,
    count(*) filter (where store_id = 6) as redmond_inventory
from retail.inventory \gset
select
    count(*) as all_customers,
    count(*) filter (where primary_store_id = 1) as seattle_customers,
    count(*) filter (where primary_store_id = 6) as redmond_customers
from retail.customers \gset

select is_empty(
    $$select table_name from owner_rows group by table_name having sum(row_count) = 0$$,
    'the owner sees rows in every retail table (embeddings from the fixture), so hidden rows would show'
);

-- Head office sees every row.
select 'savepoint as_head_office' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = '00000000-0000-0000-0000-000000000000' \gexec

select is(
    mcp.current_principal(), '00000000-0000-0000-0000-000000000000'::uuid,
    'head office''s connection runs as head office''s role, not as the superuser that bypasses the policies'
);
select is(
    (select count(*) from retail.orders),
    :all_orders::bigint,
    'head office sees every order'
);
select is(
    (select count(*) from retail.order_items),
    :all_order_items::bigint,
    'head office sees every order item'
);
select is(
    (select count(*) from retail.inventory),
    :all_inventory::bigint,
    'head office sees every inventory row'
);
select is(
    (select count(*) from retail.customers),
    :all_customers::bigint,
    'head office sees every customer'
);
select results_eq(
    $$select table_name, row_count from visible_rows where store_id is null order by table_name$$,
    $$select table_name, row_count from owner_rows where store_id is null order by table_name$$,
    'head office sees every row of the catalog tables'
);
-- The orders policy's test for the planner (mcp_internal.visible_store_when_planned) is folded
-- away for head office: its plans test the stores once, as before.
select is(
    (select count(*) from regexp_matches(pg_temp.plan_text('select * from retail.orders'), 'store_id = ANY', 'g')),
    1::bigint,
    'head office''s plan of its orders tests the stores once: no store list is folded into it'
);
select 'rollback to savepoint as_head_office' \gexec

-- Seattle's manager (store 1) sees Seattle's rows and the catalog, nothing of another store.
select 'savepoint as_seattle' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gexec

select is(
    (select count(*) from retail.orders),
    :seattle_orders::bigint,
    'Seattle''s manager sees every Seattle order'
);
select is(
    (
        select count(*) from retail.orders
        where store_id <> 1
    ),
    0::bigint,
    'Seattle''s manager sees no order of another store'
);
select is(
    (select count(*) from retail.order_items),
    :seattle_order_items::bigint,
    'Seattle''s manager sees every Seattle order item'
);
select is(
    (
        select count(*) from retail.order_items
        where store_id <> 1
    ),
    0::bigint,
    'Seattle''s manager sees no order item of another store'
);
select is(
    (select count(*) from retail.inventory),
    :seattle_inventory::bigint,
    'Seattle''s manager sees every inventory row of Seattle'
);
select is(
    (
        select count(*) from retail.inventory
        where store_id <> 1
    ),
    0::bigint,
    'Seattle''s manager sees no inventory of another store'
);
select is(
    (select count(*) from retail.customers),
    :seattle_customers::bigint,
    'Seattle''s manager sees every customer whose primary store is Seattle'
);
select is(
    (
        select count(*) from retail.customers
        where primary_store_id <> 1
    ),
    0::bigint,
    'Seattle''s manager sees no customer of another store'
);
select results_eq(
    $$select table_name, row_count from visible_rows where store_id is null order by table_name$$,
    $$select table_name, row_count from owner_rows where store_id is null order by table_name$$,
    'Seattle''s manager sees every row of the catalog tables'
);

-- The policies look up the caller's stores once per query: an InitPlan, no per-row SubPlan.
select ok(
    jsonb_path_exists(
        mcp.explain_query('select count(*) from retail.orders'),
        '$.** ? (@."Parent Relationship" == "InitPlan")'
    ),
    'the orders policy computes the visible stores in an InitPlan'
);
select ok(
    not jsonb_path_exists(
        mcp.explain_query('select count(*) from retail.orders'),
        '$.** ? (@."Parent Relationship" == "SubPlan")'
    ),
    'the orders policy adds no SubPlan evaluated per row'
);
select is(
    jsonb_path_query_first(
        mcp.explain_query('select count(*) from retail.orders', true),
        '$.** ? (@."Parent Relationship" == "InitPlan")."Actual Loops"'
    ),
    '1'::jsonb,
    'counting Seattle''s orders looks up the visible stores exactly once'
);
select ok(
    jsonb_path_exists(
        mcp.explain_query('select count(*) from retail.products'),
        '$.** ? (@."Parent Relationship" == "InitPlan")'
    )
    and not jsonb_path_exists(
        mcp.explain_query('select count(*) from retail.products'),
        '$.** ? (@."Parent Relationship" == "SubPlan")'
    ),
    'the catalog policy checks the principal in an InitPlan, not per row'
);
-- An order line's store is its order's, so the planner counts the order lines' filter as
-- keeping nearly every line (see db/policies/order_items.sql; 74 % without its setting),
-- while the orders' filter still counts.
select cmp_ok(
    pg_temp.estimated_rows('select * from retail.order_items') / :owner_order_items_estimate::numeric,
    '>',
    0.8,
    'the planner counts the order lines'' policy filter as keeping more than 80 % of the lines'
);
select ok(
    pg_temp.estimated_rows('select * from retail.orders') < 0.8 * :all_orders,
    'the planner still counts the orders'' policy filter as keeping less than 80 % of the orders'
);
-- The orders and inventory policies' test for the planner is folded into Seattle's plans
-- as `store_id = 1`, so that PostgreSQL estimates Seattle's rows from the column's
-- statistics as it does a hand-written store filter (from the run-time test alone it
-- guessed ten stores' worth, 74 % of the table).
select ok(
    position('store_id = 1)' in pg_temp.plan_text('select * from retail.orders')) > 0,
    'Seattle''s plan of its orders carries Seattle''s store as a constant'
);
select ok(
    pg_temp.estimated_rows('select * from retail.orders') / :seattle_orders::numeric between 0.5 and 1.5,
    'the planner estimates Seattle''s orders at half to one and a half times their count'
);
select ok(
    pg_temp.estimated_rows('select * from retail.inventory') / :seattle_inventory::numeric between 0.5 and 1.5,
    'the planner estimates Seattle''s inventory rows at half to one and a half times their count'
);
select 'rollback to savepoint as_seattle' \gexec

-- Redmond's manager (store 6) sees Redmond's rows and the catalog, nothing of another store.
select 'savepoint as_redmond' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'e7f8a9b0-c1d2-3e4f-5678-90abcdef1234' \gexec

select is(
    (select count(*) from retail.orders),
    :redmond_orders::bigint,
    'Redmond''s manager sees every Redmond order'
);
select is(
    (
        select count(*) from retail.orders
        where store_id <> 6
    ),
    0::bigint,
    'Redmond''s manager sees no order of another store'
);
select is(
    (select count(*) from retail.order_items),
    :redmond_order_items::bigint,
    'Redmond''s manager sees every Redmond order item'
);
select is(
    (
        select count(*) from retail.order_items
        where store_id <> 6
    ),
    0::bigint,
    'Redmond''s manager sees no order item of another store'
);
select is(
    (select count(*) from retail.inventory),
    :redmond_inventory::bigint,
    'Redmond''s manager sees every inventory row of Redmond'
);
select is(
    (
        select count(*) from retail.inventory
        where store_id <> 6
    ),
    0::bigint,
    'Redmond''s manager sees no inventory of another store'
);
select is(
    (select count(*) from retail.customers),
    :redmond_customers::bigint,
    'Redmond''s manager sees every customer whose primary store is Redmond'
);
select is(
    (
        select count(*) from retail.customers
        where primary_store_id <> 6
    ),
    0::bigint,
    'Redmond''s manager sees no customer of another store'
);
select results_eq(
    $$select table_name, row_count from visible_rows where store_id is null order by table_name$$,
    $$select table_name, row_count from owner_rows where store_id is null order by table_name$$,
    'Redmond''s manager sees every row of the catalog tables'
);
select 'rollback to savepoint as_redmond' \gexec

-- A plan PostgreSQL keeps holds the stores of when it was planned, and only ever narrows:
-- the policies' run-time test still decides. Seattle's role keeps a generic plan of its
-- orders; then Seattle's store goes to another principal and Redmond's store to Seattle's.
-- The kept plan shows Seattle's role neither store's orders (not Seattle's, which the
-- constant in it names), a query planned afresh shows it Redmond's, and another role's
-- execution of the kept statement is planned again for that role.
select 'savepoint kept_plan' \gexec
set local plan_cache_mode = force_generic_plan;
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gexec
prepare kept_orders as select count(*) from retail.orders;
select results_eq(
    'kept_orders',
    format('values (%s::bigint)', :seattle_orders),
    'Seattle''s kept plan counts Seattle''s orders'
);
reset session authorization;
update retail.stores set rls_user_id = gen_random_uuid()
where store_id = 1;
update retail.stores set rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479'
where store_id = 6;
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gexec
select results_eq(
    'kept_orders',
    'values (0::bigint)',
    'once Seattle''s store has changed hands, the plan kept from before shows Seattle''s role no order of either store'
);
select is(
    (select count(*) from retail.orders),
    :redmond_orders::bigint,
    'a query planned afresh shows Seattle''s role the orders of the store it now has'
);
reset session authorization;
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = '00000000-0000-0000-0000-000000000000' \gexec
select results_eq(
    'kept_orders',
    format('values (%s::bigint)', :all_orders),
    'the statement Seattle''s role prepared, run by head office''s role, is planned again and counts every order'
);
reset session authorization;
deallocate kept_orders;
select 'rollback to savepoint kept_plan' \gexec

-- Every other store manager: the whole catalog, and of the per-store tables exactly their
-- own store's rows (a row of another store would show as an extra row).
select 'savepoint as_bellevue' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = '6ba7b810-9dad-11d1-80b4-00c04fd430c8' \gexec
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    'select * from owner_rows where store_id is null or store_id = 2 order by table_name, store_id',
    'Bellevue''s manager sees the catalog and exactly Bellevue''s rows'
);
select 'rollback to savepoint as_bellevue' \gexec

select 'savepoint as_tacoma' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'a1b2c3d4-e5f6-7890-abcd-ef1234567890' \gexec
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    'select * from owner_rows where store_id is null or store_id = 3 order by table_name, store_id',
    'Tacoma''s manager sees the catalog and exactly Tacoma''s rows'
);
select 'rollback to savepoint as_tacoma' \gexec

select 'savepoint as_spokane' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'd8e9f0a1-b2c3-4567-8901-234567890abc' \gexec
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    'select * from owner_rows where store_id is null or store_id = 4 order by table_name, store_id',
    'Spokane''s manager sees the catalog and exactly Spokane''s rows'
);
select 'rollback to savepoint as_spokane' \gexec

select 'savepoint as_everett' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = '3b9ac9fa-cd5e-4b92-a7f2-b8c1d0e9f2a3' \gexec
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    'select * from owner_rows where store_id is null or store_id = 5 order by table_name, store_id',
    'Everett''s manager sees the catalog and exactly Everett''s rows'
);
select 'rollback to savepoint as_everett' \gexec

select 'savepoint as_kirkland' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = '9c8b7a65-4321-fed0-9876-543210fedcba' \gexec
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    'select * from owner_rows where store_id is null or store_id = 7 order by table_name, store_id',
    'Kirkland''s manager sees the catalog and exactly Kirkland''s rows'
);
select 'rollback to savepoint as_kirkland' \gexec

select 'savepoint as_online' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = '2f4e6d8c-1a3b-5c7e-9f0a-b2d4f6e8c0a2' \gexec
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    'select * from owner_rows where store_id is null or store_id = 8 order by table_name, store_id',
    'the online store''s manager sees the catalog and exactly the online store''s rows'
);
select 'rollback to savepoint as_online' \gexec

-- An unknown principal has no role; bound by a DBA, it gets the bare reader role and sees
-- nothing at all.
select 'savepoint as_unknown' \gexec
select mcp.bind_principal('11111111-1111-1111-1111-111111111111');
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    $$select table_name, store_id, 0::bigint from owner_rows where store_id is null order by table_name$$,
    'an unknown principal, bound by a DBA, sees no row of any retail table'
);
select 'rollback to savepoint as_unknown' \gexec

-- The reader role itself, which is no principal's role, sees nothing at all. (Last, and
-- outside any savepoint:
-- pgTAP counts results in a temp table that ROLLBACK TO SAVEPOINT rolls back too, and
-- finish() reads the count of the last assertion that survived.)
set local role zava_reader;
select results_eq(
    'select * from visible_rows order by table_name, store_id',
    $$select table_name, store_id, 0::bigint from owner_rows where store_id is null order by table_name$$,
    'the reader role itself, no principal''s role, sees no row of any retail table'
);

select * from finish();
rollback;
