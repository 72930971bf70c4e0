-- mcp.describe_tables(table_names text[]) -> jsonb
--
-- What a model needs to write correct SQL against the named retail tables: for each,
-- its comment, columns (type, nullable, default, comment), primary key, foreign keys
-- with their targets, indexes, check constraints and estimated rows; plus, as the
-- caller sees them, the distinct values of small text columns ("sample_values": store
-- names, categories, product types; not read for a unique column, such as SKUs, in a
-- table of more rows than are listed) and the range of date columns ("value_ranges":
-- which years have orders). Names may be given as "orders" or "retail.orders"; an
-- unknown name is an error that lists the valid ones. Names are only compared with the
-- catalog, and the value queries quote identifiers that come from the catalog.
set role {{ owner }};

create or replace function mcp.describe_tables(table_names text[])
returns jsonb
language plpgsql
stable
as $$
declare
    max_listed_values constant integer := 60;
    max_rows_for_values constant integer := 10000;
    valid_names text[];
    requested text;
    table_oids oid[] := '{}';
    table_oid oid;
    estimated_rows bigint;
    description jsonb;
    described jsonb := '[]';
    sample_values jsonb;
    value_ranges jsonb;
    listed_column record;
    -- A (name, values) row per column whose values are shown; one statement per table
    -- runs them all (the column queries are cheap; parsing and planning each was not).
    sample_queries text[];
    range_queries text[];
begin
    if table_names is null or cardinality(table_names) = 0 then
        raise exception 'describe_tables needs at least one table name'
            using errcode = 'invalid_parameter_value';
    end if;
    if cardinality(table_names) > 50 then
        raise exception 'describe_tables takes at most 50 table names, not %', cardinality(table_names)
            using errcode = 'invalid_parameter_value';
    end if;

    foreach requested in array table_names loop
        select class.oid into table_oid
        from pg_catalog.pg_class as class
        where
            class.relnamespace = 'retail'::regnamespace
            and class.relkind in ('r', 'p', 'v', 'm')
            and class.relname = regexp_replace(lower(btrim(coalesce(requested, ''))), '^retail\.', '')
            and has_table_privilege(class.oid, 'select');
        if table_oid is null then
            select array_agg(listed_table.table_name order by listed_table.table_name)
            into valid_names
            from mcp.list_tables() as listed_table;
            raise exception 'unknown table "%"; the tables are: %', requested, array_to_string(valid_names, ', ')
                using errcode = 'undefined_table';
        end if;
        if not table_oid = any(table_oids) then
            table_oids := table_oids || table_oid;
        end if;
    end loop;

    foreach table_oid in array table_oids loop
        select case when class.reltuples >= 0 then class.reltuples::bigint end
        into estimated_rows
        from pg_catalog.pg_class as class
        where class.oid = table_oid;

        sample_queries := '{}';
        range_queries := '{}';
        for listed_column in
            select
                attribute.attname as column_name,
                attribute.atttypid as type_oid,
                exists (
                    select
                    from pg_catalog.pg_index as index_
                    where
                        index_.indrelid = table_oid
                        and index_.indisunique
                        and index_.indnkeyatts = 1
                        and index_.indkey[0] = attribute.attnum
                        and index_.indpred is null
                ) as is_unique
            from pg_catalog.pg_attribute as attribute
            where
                attribute.attrelid = table_oid
                and attribute.attnum > 0
                and not attribute.attisdropped
                and attribute.atttypid in ('text'::regtype, 'varchar'::regtype, 'date'::regtype,
                                           'timestamp'::regtype, 'timestamptz'::regtype)
                and has_column_privilege(table_oid, attribute.attnum, 'select')
            order by attribute.attnum
        loop
            if listed_column.type_oid in ('text'::regtype, 'varchar'::regtype) then
                -- Only small tables (dimensions such as stores and categories) are listed,
                -- and only columns with few values (null otherwise, and left out).
                continue when estimated_rows is null or estimated_rows > max_rows_for_values;
                -- A unique column (SKUs, product names) has a value per row: in a table of
                -- more rows than are listed, reading its values would only find too many.
                continue when listed_column.is_unique and estimated_rows > max_listed_values;
                sample_queries := sample_queries || format(
                    '(%1$L, (select case when count(*) <= %3$s then jsonb_agg(value order by value) end from (select distinct %1$I::text as value from %2$s where %1$I is not null limit %3$s + 1) as listed))',
                    listed_column.column_name, table_oid::regclass, max_listed_values);
            else
                range_queries := range_queries || format(
                    '(%1$L, (select jsonb_build_object(''min'', min(%1$I), ''max'', max(%1$I)) from %2$s))',
                    listed_column.column_name, table_oid::regclass);
            end if;
        end loop;
        sample_values := '{}';
        value_ranges := '{}';
        if cardinality(sample_queries) + cardinality(range_queries) > 0 then
            execute format(
                'select (select coalesce(jsonb_object_agg(name, listed) filter (where listed is not null), ''{}'') from (values %s) as sample (name, listed)), '
                '(select coalesce(jsonb_object_agg(name, listed) filter (where name is not null), ''{}'') from (values %s) as value_range (name, listed))',
                coalesce(nullif(array_to_string(sample_queries, ', '), ''), '(null::text, null::jsonb)'),
                coalesce(nullif(array_to_string(range_queries, ', '), ''), '(null::text, null::jsonb)'))
            into sample_values, value_ranges;
        end if;

        select jsonb_build_object(
            'table_name', format('%I.%I', namespace.nspname, class.relname),
            'description', table_description.description,
            'estimated_rows', estimated_rows,
            'row_level_security', class.relrowsecurity,
            'columns', (
                select jsonb_agg(jsonb_build_object(
                    'name', attribute.attname,
                    'type', format_type(attribute.atttypid, attribute.atttypmod),
                    'nullable', not attribute.attnotnull,
                    'default', pg_get_expr(column_default.adbin, column_default.adrelid),
                    'description', column_description.description
                ) order by attribute.attnum)
                from pg_catalog.pg_attribute as attribute
                left join pg_catalog.pg_attrdef as column_default
                    on column_default.adrelid = attribute.attrelid and column_default.adnum = attribute.attnum
                -- Comments joined, not read with col_description(): that SQL function
                -- ran once per column, a tenth of the call.
                left join pg_catalog.pg_description as column_description
                    on column_description.objoid = attribute.attrelid
                    and column_description.classoid = 'pg_catalog.pg_class'::regclass
                    and column_description.objsubid = attribute.attnum
                where attribute.attrelid = class.oid and attribute.attnum > 0 and not attribute.attisdropped
            ),
            'primary_key', (
                select jsonb_agg(attribute.attname order by key_column.position)
                from pg_catalog.pg_constraint as constraint_
                cross join unnest(constraint_.conkey) with ordinality as key_column (attnum, position)
                inner join pg_catalog.pg_attribute as attribute
                    on attribute.attrelid = constraint_.conrelid and attribute.attnum = key_column.attnum
                where constraint_.conrelid = class.oid and constraint_.contype = 'p'
            ),
            'foreign_keys', coalesce((
                select jsonb_agg(jsonb_build_object(
                    'name', constraint_.conname,
                    'columns', (
                        select jsonb_agg(attribute.attname order by key_column.position)
                        from unnest(constraint_.conkey) with ordinality as key_column (attnum, position)
                        inner join pg_catalog.pg_attribute as attribute
                            on attribute.attrelid = constraint_.conrelid and attribute.attnum = key_column.attnum
                    ),
                    'references_table', (
                        select format('%I.%I', target_namespace.nspname, target.relname)
                        from pg_catalog.pg_class as target
                        inner join pg_catalog.pg_namespace as target_namespace
                            on target.relnamespace = target_namespace.oid
                        where target.oid = constraint_.confrelid
                    ),
                    'references_columns', (
                        select jsonb_agg(attribute.attname order by key_column.position)
                        from unnest(constraint_.confkey) with ordinality as key_column (attnum, position)
                        inner join pg_catalog.pg_attribute as attribute
                            on attribute.attrelid = constraint_.confrelid and attribute.attnum = key_column.attnum
                    )
                ) order by constraint_.conname)
                from pg_catalog.pg_constraint as constraint_
                where constraint_.conrelid = class.oid and constraint_.contype = 'f'
            ), '[]'),
            'indexes', coalesce((
                select jsonb_agg(jsonb_build_object(
                    'name', index_class.relname,
                    'definition', pg_get_indexdef(index_.indexrelid)
                ) order by index_class.relname)
                from pg_catalog.pg_index as index_
                inner join pg_catalog.pg_class as index_class on index_class.oid = index_.indexrelid
                where index_.indrelid = class.oid
            ), '[]'),
            'check_constraints', coalesce((
                select jsonb_agg(jsonb_build_object(
                    'name', constraint_.conname,
                    'definition', pg_get_constraintdef(constraint_.oid)
                ) order by constraint_.conname)
                from pg_catalog.pg_constraint as constraint_
                where constraint_.conrelid = class.oid and constraint_.contype = 'c'
            ), '[]'),
            'sample_values', sample_values,
            'value_ranges', value_ranges
        )
        into description
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_namespace as namespace on namespace.oid = class.relnamespace
        left join pg_catalog.pg_description as table_description
            on table_description.objoid = class.oid
            and table_description.classoid = 'pg_catalog.pg_class'::regclass
            and table_description.objsubid = 0
        where class.oid = table_oid;

        described := described || description;
    end loop;
    return described;
end;
$$;

comment on function mcp.describe_tables(text[]) is
'Columns, keys, foreign keys, indexes, checks, estimated rows, and (as the caller sees them) small columns'' distinct values and date ranges of the named retail tables.';

grant execute on function mcp.describe_tables(text[]) to {{ reader }};

reset role;
