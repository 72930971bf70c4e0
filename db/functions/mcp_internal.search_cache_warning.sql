-- mcp_internal.search_cache_warning(cache_bytes bigint = null) -> text
--
-- Null when PostgreSQL's own cache (shared_buffers, or cache_bytes when given) can hold
-- what semantic search reads: the products, their embeddings and the inventory, with
-- their indexes. Otherwise a sentence that gives both sizes, which the server logs as a
-- warning at start-up. Search then reads its pages from outside shared_buffers, one page
-- per candidate and per text match: at a million products a store manager's hybrid
-- search took 26.5 ms against 12.2 ms with shared_buffers holding them, and on a host that
-- reclaims idle file cache 89 ms after two quiet minutes (docs/scaling.md). Sizes only,
-- which every role may read from the catalog; a DBA may call it from psql.
set role {{ owner }};

create or replace function mcp_internal.search_cache_warning(cache_bytes bigint default null)
returns text
language sql
stable
set search_path = pg_catalog, pg_temp
return (
    select
        format(
            'shared_buffers (%s) cannot hold what semantic search reads (%s: the products, '
            'their embeddings and the inventory, with their indexes): searches will read '
            'their pages from outside PostgreSQL''s cache and may take twice as long or more; '
            'give shared_buffers at least that much (docs/scaling.md)',
            pg_size_pretty(sizes.cache), pg_size_pretty(sizes.needed)
        )
    from (
        select
            coalesce(cache_bytes, pg_size_bytes(current_setting('shared_buffers'))) as cache,
            (
                select sum(pg_total_relation_size(searched.oid))
                from pg_class as searched
                where
                    searched.relnamespace = 'retail'::regnamespace
                    and searched.relname in ('products', 'product_description_embeddings', 'inventory')
            ) as needed
    ) as sizes
    where sizes.needed > sizes.cache
);

comment on function mcp_internal.search_cache_warning(bigint) is
'Null when shared_buffers (or cache_bytes) holds the tables and indexes semantic search reads; otherwise a warning giving both sizes, logged by the server at start-up.';

grant execute on function mcp_internal.search_cache_warning(bigint) to {{ login }};

reset role;
