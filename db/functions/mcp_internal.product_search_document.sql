-- mcp_internal.product_search_document(name, description) -> tsvector
--
-- The full-text document of a product: its name weighted above its description. The GIN
-- index below and mcp.search_products use this one function, so they always agree.
set role {{ owner }};

create or replace function mcp_internal.product_search_document(
    product_name text,
    product_description text
)
returns tsvector
language sql
immutable
parallel safe
return
setweight(to_tsvector('english'::regconfig, coalesce(product_name, '')), 'A')
|| setweight(to_tsvector('english'::regconfig, coalesce(product_description, '')), 'B');

comment on function mcp_internal.product_search_document(text, text) is
'Full-text document of a product (name weighted A, description B), used by the products full-text index and mcp.search_products.';

grant execute on function mcp_internal.product_search_document(text, text) to {{ reader }};

create index if not exists products_search_document_idx on retail.products
using gin (mcp_internal.product_search_document(product_name, product_description));

reset role;
