-- Structure: the schemas, the retail tables and their columns, keys and indexes, the
-- comments the model reads, row level security and its policies, the mcp API's
-- signatures, which functions run with their owner's rights, the mapping of principals to
-- their login roles, and who owns what.
-- Catalog checks only: nothing here acts for a principal or reads data.
begin;
select plan(94);

-- Schemas and extensions

select has_schema('retail', 'Schema retail holds the data');
select has_schema('mcp', 'Schema mcp holds the API the server calls');
select has_schema('mcp_internal', 'Schema mcp_internal holds the principals'' roles, the API''s helpers and what only the server touches');
select has_extension('vector', 'pgvector is installed, for the product embeddings');

-- Tables and columns (the reference sample's names, plus the additions in DESIGN.md)

select tables_are(
    'retail',
    array[
        'stores', 'customers', 'categories', 'product_types', 'products', 'inventory', 'orders', 'order_items',
        'product_description_embeddings'
    ]::name[],
    'Schema retail has exactly the nine tables of the reference data model'
);

select columns_are(
    'retail', 'stores',
    array['store_id', 'store_name', 'rls_user_id', 'is_online']::name[],
    'retail.stores has exactly its reference columns'
);
select columns_are(
    'retail', 'customers',
    array['customer_id', 'first_name', 'last_name', 'email', 'phone', 'primary_store_id', 'created_at']::name[],
    'retail.customers has exactly its reference columns'
);
select columns_are(
    'retail', 'categories',
    array['category_id', 'category_name']::name[],
    'retail.categories has exactly its reference columns'
);
select columns_are(
    'retail', 'product_types',
    array['type_id', 'category_id', 'type_name', 'product_type_id']::name[],
    'retail.product_types has exactly its reference columns'
);
select columns_are(
    'retail', 'products',
    array[
        'product_id', 'sku', 'product_name', 'category_id', 'type_id', 'cost', 'base_price', 'gross_margin_percent',
        'product_description', 'product_type_id', 'search_document'
    ]::name[],
    'retail.products has exactly its reference columns, and its stored full-text document'
);
select columns_are(
    'retail', 'inventory',
    array['store_id', 'product_id', 'stock_level']::name[],
    'retail.inventory has exactly its reference columns'
);
select columns_are(
    'retail', 'orders',
    array['order_id', 'customer_id', 'store_id', 'order_date']::name[],
    'retail.orders has exactly its reference columns'
);
select columns_are(
    'retail', 'order_items',
    array[
        'order_item_id', 'order_id', 'store_id', 'product_id', 'quantity', 'unit_price', 'discount_percent',
        'discount_amount', 'total_amount'
    ]::name[],
    'retail.order_items has exactly its reference columns'
);
select columns_are(
    'retail', 'product_description_embeddings',
    array['product_id', 'description_embedding', 'model_name', 'embedded_at']::name[],
    'retail.product_description_embeddings has the vector with its model name and time beside it'
);

select col_type_is(
    'retail', 'product_description_embeddings', 'description_embedding', 'vector(384)',
    'Product embeddings are 384-dimensional vectors, the dimension of the default local model'
);
select col_type_is(
    'retail', 'products', 'base_price', 'numeric(10,2)',
    'A product''s list price is an exact amount of dollars and cents'
);
select col_type_is(
    'retail', 'order_items', 'total_amount', 'numeric(12,2)',
    'An order line''s total is an exact amount of dollars and cents'
);
select col_type_is(
    'retail', 'orders', 'order_date', 'date',
    'An order''s date is a calendar day, for monthly, quarterly and yearly figures'
);
select col_type_is(
    'retail', 'stores', 'rls_user_id', 'uuid',
    'A store''s manager is identified by a uuid principal'
);

-- Primary keys

select col_is_pk('retail', 'stores', 'store_id', 'Stores are identified by store_id');
select col_is_pk('retail', 'customers', 'customer_id', 'Customers are identified by customer_id');
select col_is_pk('retail', 'categories', 'category_id', 'Categories are identified by category_id');
select col_is_pk('retail', 'product_types', 'type_id', 'Product types are identified by type_id');
select col_is_pk('retail', 'products', 'product_id', 'Products are identified by product_id');
select col_is_pk(
    'retail', 'inventory', array['store_id', 'product_id']::name[],
    'A store holds one stock level per product'
);
select col_is_pk('retail', 'orders', 'order_id', 'Orders are identified by order_id');
select col_is_pk('retail', 'order_items', 'order_item_id', 'Order lines are identified by order_item_id');
select col_is_pk(
    'retail', 'product_description_embeddings', 'product_id',
    'A product has at most one description embedding'
);

-- Foreign keys (describe_tables shows them to the model as the join paths)

select fk_ok(
    'retail', 'customers', 'primary_store_id', 'retail', 'stores', 'store_id',
    'A customer''s primary store is a store'
);
select fk_ok(
    'retail', 'product_types', 'category_id', 'retail', 'categories', 'category_id',
    'A product type belongs to a category'
);
select fk_ok(
    'retail', 'products', 'category_id', 'retail', 'categories', 'category_id',
    'A product belongs to a category'
);
select fk_ok(
    'retail', 'products', 'type_id', 'retail', 'product_types', 'type_id',
    'A product has a product type'
);
select fk_ok(
    'retail', 'inventory', 'store_id', 'retail', 'stores', 'store_id',
    'Inventory is held at a store'
);
select fk_ok(
    'retail', 'inventory', 'product_id', 'retail', 'products', 'product_id',
    'Inventory is of a product'
);
select fk_ok(
    'retail', 'orders', 'customer_id', 'retail', 'customers', 'customer_id',
    'An order is placed by a customer'
);
select fk_ok(
    'retail', 'orders', 'store_id', 'retail', 'stores', 'store_id',
    'An order is made at a store'
);
select fk_ok(
    'retail', 'order_items', 'order_id', 'retail', 'orders', 'order_id',
    'An order line belongs to an order'
);
select fk_ok(
    'retail', 'order_items', 'store_id', 'retail', 'stores', 'store_id',
    'An order line is sold at a store'
);
select fk_ok(
    'retail', 'order_items', 'product_id', 'retail', 'products', 'product_id',
    'An order line sells a product'
);
select fk_ok(
    'retail', 'product_description_embeddings', 'product_id', 'retail', 'products', 'product_id',
    'A description embedding belongs to a product'
);

-- Indexes for the analytic queries and for the row level security filters

select is_indexed(
    'retail', 'orders', array['store_id', 'order_date']::name[],
    'Orders are indexed by (store_id, order_date), for a store''s sales over time'
);
select is_indexed(
    'retail', 'order_items', array['store_id', 'product_id']::name[],
    'Order lines are indexed with store_id leading, for the row level security filter'
);
select is_indexed(
    'retail', 'customers', array['primary_store_id']::name[],
    'Customers are indexed by primary_store_id, for the row level security filter'
);
select is(
    pg_catalog.pg_get_indexdef(to_regclass('retail.inventory_in_stock_idx')),
    'CREATE INDEX inventory_in_stock_idx ON retail.inventory USING btree (store_id, product_id) WHERE (stock_level > 0)',
    'Inventory rows in stock are indexed store first, for the stock test of in_stock_only'
);
select is(
    to_regclass('retail.inventory_product_id_idx'),
    null,
    'Inventory has no index on product_id alone, which the stock test would take instead'
);
select is(
    pg_catalog.pg_get_indexdef(to_regclass('retail.orders_order_date_store_id_idx')),
    'CREATE INDEX orders_order_date_store_id_idx ON retail.orders USING btree (order_date, store_id)',
    'Orders are indexed by date with the store, whose filter is checked in the index'
);
select is(
    to_regclass('retail.orders_order_date_idx'),
    null,
    'Orders have no index on order_date alone, which a store manager''s period would take instead'
);
select is(
    pg_catalog.pg_get_indexdef(to_regclass('retail.orders_store_id_order_date_covering_idx')),
    'CREATE INDEX orders_store_id_order_date_covering_idx ON retail.orders USING btree (store_id, order_date) INCLUDE (order_id, customer_id)',
    'A store''s orders carry their id and customer in the store covering index'
);
select is(
    pg_catalog.pg_get_indexdef(to_regclass('retail.customers_primary_store_id_covering_idx')),
    'CREATE INDEX customers_primary_store_id_covering_idx ON retail.customers USING btree (primary_store_id) INCLUDE (customer_id, first_name, last_name)',
    'A store''s customers are read with their id and names from the store covering index'
);
select is(
    pg_catalog.pg_get_indexdef(to_regclass('retail.order_items_order_id_covering_idx')),
    'CREATE INDEX order_items_order_id_covering_idx ON retail.order_items USING btree (order_id) INCLUDE (store_id, product_id, total_amount)',
    'An order''s lines are read from the order_id index alone: it carries the store, product and amount'
);
select is(
    to_regclass('retail.order_items_order_id_idx'),
    null,
    'Order lines have no plain order_id index beside the covering one'
);
select results_eq(
    $$
        select
            access_method.amname::text collate "default",
            operator_class.opcname::text collate "default",
            indexed_column.attname::text collate "default"
        from pg_catalog.pg_index as index_
        inner join pg_catalog.pg_class as index_class on index_.indexrelid = index_class.oid
        inner join pg_catalog.pg_am as access_method on index_class.relam = access_method.oid
        inner join pg_catalog.pg_opclass as operator_class on index_.indclass[0] = operator_class.oid
        inner join pg_catalog.pg_attribute as indexed_column
            on index_.indrelid = indexed_column.attrelid and index_.indkey[0] = indexed_column.attnum
        where
            index_.indrelid = to_regclass('retail.product_description_embeddings')
            and access_method.amname = 'hnsw'
    $$,
    $$ values ('hnsw', 'vector_cosine_ops', 'description_embedding') $$,
    'Product embeddings have an HNSW index on description_embedding with cosine distance'
);
select results_eq(
    $$
        select
            access_method.amname::text collate "default",
            pg_catalog.pg_get_expr(index_.indexprs, index_.indrelid) collate "default"
        from pg_catalog.pg_index as index_
        inner join pg_catalog.pg_class as index_class on index_.indexrelid = index_class.oid
        inner join pg_catalog.pg_am as access_method on index_class.relam = access_method.oid
        where
            index_.indrelid = to_regclass('retail.products')
            and access_method.amname = 'gin'
    $$,
    $$ values ('gin', null::text) $$,
    'Products have one GIN index, a plain one (on the stored search_document, not an expression)'
);

-- Comments: the model reads them through describe_tables, so every table and column has one

select is_empty(
    $$
        select format('table retail.%I', class.relname)
        from pg_catalog.pg_class as class
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind in ('r', 'p')
            and coalesce(btrim(pg_catalog.obj_description(class.oid, 'pg_class')), '') = ''
        union all
        select format('column retail.%I.%I', class.relname, attribute.attname)
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_attribute as attribute on class.oid = attribute.attrelid
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind in ('r', 'p')
            and attribute.attnum > 0
            and not attribute.attisdropped
            and coalesce(btrim(pg_catalog.col_description(class.oid, attribute.attnum)), '') = ''
    $$,
    'Every retail table and every retail column has a non-empty comment'
);
select is(
    (
        select count(*) filter (where coalesce(btrim(pg_catalog.col_description(class.oid, attribute.attnum)), '') <> '')
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_attribute as attribute on class.oid = attribute.attrelid
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind in ('r', 'p')
            and attribute.attnum > 0
            and not attribute.attisdropped
    ),
    (
        select count(*)
        from information_schema.columns
        where table_schema = 'retail'
    ),
    'The number of commented retail columns equals the number of retail columns'
);

-- Row level security and its policies

select is_empty(
    $$
        select format('retail.%I', class.relname)
        from pg_catalog.pg_class as class
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind in ('r', 'p')
            and not class.relrowsecurity
    $$,
    'Row level security is enabled on every retail table'
);
select policies_are(
    'retail', 'stores', array['known principals see every row']::name[],
    'retail.stores has only the policy for known principals'
);
select policies_are(
    'retail', 'customers', array['head office sees every store, a store manager only their own']::name[],
    'retail.customers has only the per-store policy'
);
select policies_are(
    'retail', 'categories', array['known principals see every row']::name[],
    'retail.categories has only the policy for known principals'
);
select policies_are(
    'retail', 'product_types', array['known principals see every row']::name[],
    'retail.product_types has only the policy for known principals'
);
select policies_are(
    'retail', 'products', array['known principals see every row']::name[],
    'retail.products has only the policy for known principals'
);
select policies_are(
    'retail', 'inventory', array['head office sees every store, a store manager only their own']::name[],
    'retail.inventory has only the per-store policy'
);
select policies_are(
    'retail', 'orders', array['head office sees every store, a store manager only their own']::name[],
    'retail.orders has only the per-store policy'
);
select policies_are(
    'retail', 'order_items', array['head office sees every store, a store manager only their own']::name[],
    'retail.order_items has only the per-store policy'
);
select policies_are(
    'retail', 'product_description_embeddings', array['known principals see every row']::name[],
    'retail.product_description_embeddings has only the policy for known principals'
);
select is_empty(
    $$
        select format('%s on %s', policy.polname, policy.polrelid::regclass)
        from pg_catalog.pg_policy as policy
        inner join pg_catalog.pg_class as class on policy.polrelid = class.oid
        where
            class.relnamespace = to_regnamespace('retail')
            and (
                policy.polcmd <> 'r'
                or not policy.polpermissive
                or policy.polroles <> array[(select role.oid from pg_catalog.pg_roles as role where role.rolname = 'zava_reader')]
            )
    $$,
    'Every retail policy is a permissive SELECT policy for zava_reader alone'
);

-- The mcp API: exactly these functions, with these signatures

select functions_are(
    'mcp',
    array[
        'audit_log', 'bind_principal', 'current_principal', 'describe_tables', 'explain_query', 'list_tables',
        'run_query', 'search_products'
    ]::name[],
    'Schema mcp holds exactly the API functions'
);
select function_returns(
    'mcp', 'bind_principal', array['uuid']::name[], 'void',
    'mcp.bind_principal(uuid) returns void'
);
select function_returns(
    'mcp', 'current_principal', array[]::name[], 'uuid',
    'mcp.current_principal() returns the current role''s principal as a uuid'
);
select function_returns(
    'mcp', 'run_query', array['text', 'integer', 'integer']::name[], 'json',
    'mcp.run_query(text, integer, integer) returns json'
);
select function_returns(
    'mcp', 'explain_query', array['text', 'boolean']::name[], 'jsonb',
    'mcp.explain_query(text, boolean) returns jsonb'
);
select function_returns(
    'mcp', 'describe_tables', array['text[]']::name[], 'jsonb',
    'mcp.describe_tables(text[]) returns a jsonb array'
);
select function_returns(
    'mcp', 'list_tables', array[]::name[], 'setof record',
    'mcp.list_tables() returns a set of rows'
);
select function_returns(
    'mcp', 'search_products', array['vector', 'integer', 'real', 'text', 'boolean', 'text']::name[], 'setof record',
    'mcp.search_products(vector, integer, real, text, boolean, text) returns a set of rows'
);
select results_eq(
    $$
        select
            function_.proname::text collate "default",
            pg_catalog.pg_get_function_arguments(function_.oid),
            pg_catalog.pg_get_function_result(function_.oid)
        from pg_catalog.pg_proc as function_
        where function_.pronamespace = to_regnamespace('mcp')
        order by function_.proname
    $$,
    $$
        values
        (
            'audit_log',
            'since timestamp with time zone DEFAULT (now() - ''1 day''::interval), max_rows integer DEFAULT 100',
            'TABLE(called_at timestamp with time zone, request_id text, rls_user_id uuid, store_name text, tool text, query_sha256 text, query_text text, duration_ms numeric, row_count integer, outcome text, error_class text)'
        ),
        ('bind_principal', 'principal uuid', 'void'),
        ('current_principal', '', 'uuid'),
        ('describe_tables', 'table_names text[]', 'jsonb'),
        ('explain_query', 'query text, "analyze" boolean DEFAULT false', 'jsonb'),
        (
            'list_tables', '',
            'TABLE(table_name text, description text, estimated_rows bigint, row_level_security boolean)'
        ),
        ('run_query', 'query text, max_rows integer DEFAULT 100, max_bytes integer DEFAULT 1048576', 'json'),
        (
            'search_products',
            'query_embedding vector, max_rows integer DEFAULT 20, min_similarity real DEFAULT 30, '
            || 'query_text text DEFAULT NULL::text, in_stock_only boolean DEFAULT false, '
            || 'query_model text DEFAULT NULL::text',
            'TABLE(product_id integer, sku text, product_name text, category_name text, type_name text, '
            || 'base_price numeric, product_description text, similarity_percent numeric, text_rank real, '
            || 'score double precision)'
        )
    $$,
    'The API''s parameter names, defaults and result columns are exactly those the server and DESIGN.md use'
);

-- mcp_internal: the principals' roles and the helpers. No table records a binding: each
-- principal logs in as its own role, and policies read only permanent tables, which a hot
-- standby can read.

select tables_are(
    'mcp_internal',
    array['api_keys', 'audit_log', 'principal_roles']::name[],
    'Schema mcp_internal has exactly the API keys, the audit log and the principals'' roles: no table of bindings'
);
select columns_are(
    'mcp_internal', 'principal_roles',
    array['role_name', 'rls_user_id', 'created_at']::name[],
    'mcp_internal.principal_roles maps a role name to a principal, with the time the role was created'
);
select col_is_pk(
    'mcp_internal', 'principal_roles', 'role_name',
    'A principal role is identified by its name'
);
select col_is_unique(
    'mcp_internal', 'principal_roles', 'rls_user_id',
    'A principal has at most one role'
);
select is_empty(
    $$
        select format('%s (%s)', class.oid::regclass, class.relpersistence)
        from pg_catalog.pg_class as class
        where
            class.relnamespace in (to_regnamespace('retail'), to_regnamespace('mcp_internal'))
            and class.relpersistence <> 'p'
    $$,
    'No relation in retail or mcp_internal is unlogged or temporary, so a hot standby reads all that the policies read'
);
select functions_are(
    'mcp_internal',
    array[
        'audit_entries', 'authenticate_api_key', 'check_query_start', 'clean_session', 'head_office_principal',
        'is_known_principal', 'is_known_role', 'leading_keyword',
        'login_role_problems', 'open_guarded_cursor', 'principal_is_known', 'principal_label', 'principal_of_role',
        'principal_role', 'product_text_matches', 'query_without_final_semicolons', 'record_audit', 'redact_plan', 'refuse_write',
        'search_cache_warning', 'store_ids_of_role', 'visible_store_ids', 'visible_store_when_planned'
    ]::name[],
    'Schema mcp_internal holds exactly these helpers (nothing records a binding)'
);
select function_returns(
    'mcp_internal', 'principal_of_role', array['name']::name[], 'uuid',
    'mcp_internal.principal_of_role(name) returns the principal of a role as a uuid'
);
select function_returns(
    'mcp_internal', 'principal_role', array['uuid']::name[], 'name',
    'mcp_internal.principal_role(uuid) returns the name of a principal''s role'
);
select function_returns(
    'mcp_internal', 'store_ids_of_role', array['name']::name[], 'integer[]',
    'mcp_internal.store_ids_of_role(name) returns the store ids the principal of a role may see'
);
select function_returns(
    'mcp_internal', 'visible_store_when_planned', array[]::name[], 'integer',
    'mcp_internal.visible_store_when_planned() returns the one store id a role sees, for the planner'
);
select function_returns(
    'mcp_internal', 'search_cache_warning', array['bigint']::name[], 'text',
    'mcp_internal.search_cache_warning(bigint) returns the start-up warning as text (null when the cache suffices)'
);
select function_returns(
    'mcp_internal', 'is_known_role', array['name']::name[], 'boolean',
    'mcp_internal.is_known_role(name) returns whether a role acts for head office or a store manager'
);
select function_returns(
    'mcp_internal', 'is_known_principal', array['uuid']::name[], 'boolean',
    'mcp_internal.is_known_principal(uuid) returns whether a principal is head office or a store manager'
);

-- Who a function runs as: only a few small functions run with the owner's rights

select results_eq(
    $$
        select format('%s.%s', namespace.nspname, function_.proname) collate "default"
        from pg_catalog.pg_proc as function_
        inner join pg_catalog.pg_namespace as namespace on function_.pronamespace = namespace.oid
        where namespace.nspname in ('retail', 'mcp', 'mcp_internal') and function_.prosecdef
        order by 1
    $$,
    $$
        values
        ('mcp_internal.audit_entries'),
        ('mcp_internal.authenticate_api_key'),
        ('mcp_internal.is_known_principal'),
        ('mcp_internal.is_known_role'),
        ('mcp_internal.login_role_problems'),
        ('mcp_internal.principal_label'),
        ('mcp_internal.principal_of_role'),
        ('mcp_internal.principal_role'),
        ('mcp_internal.product_text_matches'),
        ('mcp_internal.record_audit'),
        ('mcp_internal.store_ids_of_role')
    $$,
    'Only audit_entries, authenticate_api_key, is_known_principal, is_known_role, login_role_problems, principal_label, principal_of_role, principal_role, product_text_matches, record_audit and store_ids_of_role are SECURITY DEFINER'
);
select is_empty(
    $$
        select function_.oid::regprocedure::text
        from pg_catalog.pg_proc as function_
        where
            function_.pronamespace in (to_regnamespace('retail'), to_regnamespace('mcp'), to_regnamespace('mcp_internal'))
            and function_.prosecdef
            and not exists (
                select from unnest(function_.proconfig) as setting
                where setting like 'search\_path=_%'
            )
    $$,
    'Every SECURITY DEFINER function in retail, mcp and mcp_internal pins its search_path'
);
select is_empty(
    $$
        select function_.oid::regprocedure::text
        from pg_catalog.pg_proc as function_
        where
            function_.pronamespace = to_regnamespace('mcp')
            and function_.proname in (
                'run_query', 'explain_query', 'describe_tables', 'list_tables', 'search_products', 'bind_principal'
            )
            and function_.prosecdef
    $$,
    'The API functions run_query, explain_query, describe_tables, list_tables, search_products and bind_principal are SECURITY INVOKER'
);
select is_empty(
    $$
        select function_.oid::regprocedure::text
        from pg_catalog.pg_proc as function_
        where
            function_.oid in (
                to_regprocedure('mcp.current_principal()'),
                to_regprocedure('mcp_internal.visible_store_ids()'),
                to_regprocedure('mcp_internal.principal_is_known()'),
                to_regprocedure('mcp_internal.visible_store_when_planned()'),
                to_regprocedure('mcp.audit_log(timestamptz, integer)')
            )
            and function_.prosecdef
    $$,
    'mcp.current_principal, mcp_internal.visible_store_ids, mcp_internal.principal_is_known, mcp_internal.visible_store_when_planned and mcp.audit_log are SECURITY INVOKER, so current_user inside them is the caller''s role'
);

-- Ownership: zava_owner owns everything in the three schemas

select is_empty(
    $$
        with owned (object, owner_id) as (
            select format('schema %I', namespace.nspname), namespace.nspowner
            from pg_catalog.pg_namespace as namespace
            where namespace.nspname in ('retail', 'mcp', 'mcp_internal')
            union all
            select format('relation %s', class.oid::regclass), class.relowner
            from pg_catalog.pg_class as class
            inner join pg_catalog.pg_namespace as namespace on class.relnamespace = namespace.oid
            where namespace.nspname in ('retail', 'mcp', 'mcp_internal')
            union all
            select format('function %s', function_.oid::regprocedure), function_.proowner
            from pg_catalog.pg_proc as function_
            inner join pg_catalog.pg_namespace as namespace on function_.pronamespace = namespace.oid
            where namespace.nspname in ('retail', 'mcp', 'mcp_internal')
            union all
            select format('type %s', type_.oid::regtype), type_.typowner
            from pg_catalog.pg_type as type_
            inner join pg_catalog.pg_namespace as namespace on type_.typnamespace = namespace.oid
            where namespace.nspname in ('retail', 'mcp', 'mcp_internal')
            union all
            select format('operator %s', operator_.oid::regoperator), operator_.oprowner
            from pg_catalog.pg_operator as operator_
            inner join pg_catalog.pg_namespace as namespace on operator_.oprnamespace = namespace.oid
            where namespace.nspname in ('retail', 'mcp', 'mcp_internal')
            union all
            select format('statistics %I', statistics.stxname), statistics.stxowner
            from pg_catalog.pg_statistic_ext as statistics
            inner join pg_catalog.pg_namespace as namespace on statistics.stxnamespace = namespace.oid
            where namespace.nspname in ('retail', 'mcp', 'mcp_internal')
        )

        select format('%s is owned by %s', owned.object, pg_catalog.pg_get_userbyid(owned.owner_id))
        from owned
        where pg_catalog.pg_get_userbyid(owned.owner_id) <> 'zava_owner'
    $$,
    'zava_owner owns every schema, relation, function, type, operator and statistics object in retail, mcp and mcp_internal'
);

-- Schema snapshot. It catches unintended DDL drift in retail: a column added, dropped,
-- renamed, reordered, retyped or made nullable changes the md5 below. When a change is
-- intended, update the tests above that it touches, then print the listing with the
-- query inside md5(...) (run it in psql against a freshly built database), check that it
-- shows exactly the change you meant, and paste select md5(...) of it here. (format_type
-- writes vector(384) unqualified because schema public, home of pgvector and pgTAP, is on
-- the search_path.)
select is(
    (
        select
            md5(string_agg(
                format(
                    '%s.%s %s %s %s',
                    class.relname,
                    attribute.attname,
                    pg_catalog.format_type(attribute.atttypid, attribute.atttypmod),
                    case when attribute.attnotnull then 'not null' else 'null' end,
                    attribute.attnum
                ),
                e'\n' order by class.relname, attribute.attnum
            ))
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_attribute as attribute on class.oid = attribute.attrelid
        where
            class.relnamespace = to_regnamespace('retail')
            and class.relkind = 'r'
            and attribute.attnum > 0
            and not attribute.attisdropped
    ),
    '223f0745ddfc94668a4fbd0144fcddf3',
    'The retail columns (table, column, type, nullability, position) match the reviewed snapshot'
);

select * from finish();
rollback;
