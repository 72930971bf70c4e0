-- Attacks on mcp_internal.product_text_matches, the SECURITY DEFINER helper that reads the
-- products' full-text index for mcp.search_products with the owner's rights: who may get
-- an answer from it, what an answer can reveal, and hostile query text. Run as production
-- does (the session user is a principal's own login role, as in 09_attacks.sql), since
-- the helper trusts only roles the session user may act as.
begin;
select plan(26);

-- The owner's answer to "which products hold any of these words": lexemes in common
-- between the product's stored document and the text's. Independent of the helper's own
-- tsquery, and read as the superuser, whose view row level security does not cut.
create function pg_temp.products_with_any_word(query_text text)
returns setof integer
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select product.product_id
    from retail.products as product
    where tsvector_to_array(product.search_document) && tsvector_to_array(to_tsvector('english', query_text))
$$;
grant execute on function pg_temp.products_with_any_word(text) to public;

-- Hostile query text: tsquery operators and syntax, quotes, backslashes, control
-- characters, SQL, format directives, a word of 2,000 letters. Each row is text a caller
-- could send; none may raise anything, and each must match by its words only.
create temp table hostile (query_text text primary key);
insert into hostile (query_text) values
('!'), ('!!!'), ('<->'), ('<2>'), (':*'), ('drill:*'), ('!drill'), ('drill <-> saw'), ('drill & !saw'),
('drill | saw'), ('(drill'), ('drill))'), ('&'), ('|'), (''''), (''''''), ('\'), ('\\'), ('\'''),
('drill\'' | saw'), ('''drill'':*A'), ('drill:A'), ('saw:ABCD*'), (e'drill\tsaw\nhammer'),
(chr(1) || 'drill' || chr(8) || chr(31)), ('"circular saw" or -hammer'), ('x''); drop table retail.products; --'),
('$$ select pg_read_file(''/etc/passwd'') $$'), ('%s %n %I %L'), ('drill' || repeat('x', 1995)), (repeat('a', 2000)),
('/usr/bin/drill.sh foo@example.com http://x.test/a?b=c'), ('ドリル 钻 сверло'), ('   '), ('the of and a to');
grant select on hostile to public;

-- ---------------------------------------------------------------------------------------
-- What it is: no parameter names anything to read, and only the reader may call it.
-- ---------------------------------------------------------------------------------------

select function_returns(
    'mcp_internal', 'product_text_matches', array['name', 'text']::name[], 'setof record',
    'product_text_matches takes a role name and text, nothing that names a table or column'
);
select is(
    (
        select array_agg(argument.name order by argument.position)
        from pg_catalog.pg_proc as function_
        cross join
            lateral unnest(function_.proargnames, function_.proargmodes) with ordinality as argument (name, mode, position)
        where function_.oid = 'mcp_internal.product_text_matches(name, text)'::regprocedure and argument.mode = 't'
    ),
    array['product_id', 'text_rank', 'text_position'],
    'it returns product ids, ranks and positions and no other column'
);
select is(
    (
        select function_.proconfig
        from pg_catalog.pg_proc as function_
        where function_.oid = 'mcp_internal.product_text_matches(name, text)'::regprocedure
    ),
    array['search_path=pg_catalog, pg_temp'],
    'its search_path is pinned to pg_catalog and pg_temp (and nothing else is set)'
);
select function_privs_are(
    'mcp_internal', 'product_text_matches', array['name', 'text'], 'public', array[]::text[],
    'PUBLIC may not execute it'
);
select function_privs_are(
    'mcp_internal', 'product_text_matches', array['name', 'text'], 'zava_server', array[]::text[],
    'the server''s login role may not execute it (only the reader role, which principal roles belong to)'
);

-- ---------------------------------------------------------------------------------------
-- Who gets an answer: only a known principal, naming a role its session may act as.
-- ---------------------------------------------------------------------------------------

select known.role_name as head_office_role
from mcp_internal.principal_roles as known
where known.rls_user_id = '00000000-0000-0000-0000-000000000000' \gset

select 'savepoint as_seattle' \gexec
select format('set local session authorization %I', known.role_name)
from mcp_internal.principal_roles as known
where known.rls_user_id = 'f47ac10b-58cc-4372-a567-0e02b2c3d479' \gexec
set local transaction_read_only = on;

select results_eq(
    $$select product_id from mcp_internal.product_text_matches(current_user, 'cordless drill for decking') order by 1$$,
    $$select * from pg_temp.products_with_any_word('cordless drill for decking') order by 1$$,
    'Seattle''s manager gets exactly the products holding any of the words'
);
select results_eq(
    $$select product_id from mcp_internal.product_text_matches(current_user, 'cordless drill for decking') order by 1$$,
    $$
        select product.product_id from retail.products as product
        where product.search_document @@ to_tsquery('english', 'cordless | drill | decking')
        order by 1
    $$,
    'and nothing Seattle''s manager could not find in retail.products under row level security'
);
select is_empty(
    format(
        $$select * from mcp_internal.product_text_matches(%L, 'cordless drill for decking')$$,
        :'head_office_role'
    ),
    'naming head office''s role, a role Seattle''s session may not act as, gets nothing'
);
select is_empty(
    $$select * from mcp_internal.product_text_matches('zava_owner', 'cordless drill for decking')$$,
    'naming the owner gets nothing'
);
select is_empty(
    $$select * from mcp_internal.product_text_matches(null, 'cordless drill for decking')$$,
    'naming no role gets nothing'
);
select is_empty(
    $$select * from mcp_internal.product_text_matches(current_user, null)$$,
    'no text gets nothing'
);

-- Hostile text, as Seattle's manager.
select lives_ok(
    $$
        select count(*)
        from hostile cross join lateral mcp_internal.product_text_matches(current_user, hostile.query_text)
    $$,
    'no hostile text raises an error (operators, quotes, backslashes, control characters, SQL)'
);
select is_empty(
    $$
        select hostile.query_text
        from hostile
        where
            array(
                select match.product_id
                from mcp_internal.product_text_matches(current_user, hostile.query_text) as match
                order by match.product_id
            )
            is distinct from
            array(
                select found.product_id
                from pg_temp.products_with_any_word(hostile.query_text) as found (product_id)
                order by found.product_id
            )
    $$,
    'each hostile text matches exactly the products that hold any of its words'
);
select isnt_empty(
    $$select * from mcp_internal.product_text_matches(current_user, '!drill:* <-> ''saw'' & (hammer')$$,
    'operators around words are dropped and the words still match'
);
select is_empty(
    $$select * from mcp_internal.product_text_matches(current_user, '! <-> :* & | ( ) '' \')$$,
    'operators alone are no words and match nothing'
);
select is(
    (
        select count(*)
        from mcp_internal.product_text_matches(
            current_user, $$'; select * from mcp_internal.api_keys; select * from retail.customers; --$$
        )
    ),
    (
        select count(*)
        from pg_temp.products_with_any_word(
            $$'; select * from mcp_internal.api_keys; select * from retail.customers; --$$
        )
    ),
    'SQL naming other tables is only words to look for in product documents'
);
select lives_ok(
    $$
        select count(*)
        from generate_series(1, 300) as attempt (n)
        cross join lateral (
            select string_agg(
                substr(e'!&|<>-:*()''"\\ \t\nabcdrilsw0123AB', 1 + floor(random() * 36)::integer, 1), ''
            ) as query_text
            from generate_series(1, 1 + attempt.n % 40) as letter (n)
        ) as random_text
        cross join lateral mcp_internal.product_text_matches(current_user, random_text.query_text)
    $$,
    '300 random strings of operators, quotes, backslashes and letters raise no error'
);
select throws_ok(
    format(
        $$select * from mcp_internal.product_text_matches(current_user, %L)$$, repeat('drill ', 333) || 'drills'
    ),
    '22023',
    'query_text is 2004 characters long; at most 2000 are searched',
    'text longer than the tool''s 2,000 characters is refused with a clear error'
);
select throws_ok(
    format(
        $$select * from mcp.search_products(array_fill(0.1, array[384])::vector, 20, 30, %L)$$,
        repeat('drill ', 333) || 'drills'
    ),
    '22023',
    'query_text is 2004 characters long; at most 2000 are searched',
    'and search_products passes that error on'
);
select is(
    (
        select count(*)
        from mcp_internal.product_text_matches(
            current_user,
            -- 32 words that are in no product, then one that is: the 33rd is not searched.
            (select string_agg('zzqx' || n, ' ') from generate_series(1, 32) as n) || ' drill'
        )
    ),
    0::bigint,
    'only the first 32 distinct words count'
);
select 'rollback to savepoint as_seattle' \gexec

-- The server's login role, which is no principal's role, may not call it at all.
select 'savepoint as_login' \gexec
set local session authorization zava_server;
select throws_ok(
    $$select * from mcp_internal.product_text_matches(current_user, 'drill')$$,
    '42501',
    'permission denied for function product_text_matches',
    'the server''s login role is refused'
);
select 'rollback to savepoint as_login' \gexec

-- An unknown principal bound by a DBA gets the reader role; the session user is then the
-- DBA, who may act as every principal, so name the roles a caller would.
select 'savepoint as_unknown' \gexec
select mcp.bind_principal('11111111-1111-1111-1111-111111111111');
select is(current_user, 'zava_reader'::name, 'an unknown principal acts as the bare reader role');
select is_empty(
    $$select * from mcp_internal.product_text_matches(current_user, 'cordless drill for decking')$$,
    'the reader role, no principal''s role, gets nothing'
);
select is_empty(
    $$select * from mcp.search_products(array_fill(0.1, array[384])::vector, 20, 0, 'cordless drill for decking')$$,
    'and so search_products finds no product by its words for an unknown principal'
);
select 'rollback to savepoint as_unknown' \gexec

-- Head office gets the same matches as a store manager: the catalog is the same for all.
select 'savepoint as_head_office' \gexec
select format('set local session authorization %I', :'head_office_role') \gexec
set local transaction_read_only = on;
select results_eq(
    $$select product_id from mcp_internal.product_text_matches(current_user, 'stain to protect a deck') order by 1$$,
    $$select * from pg_temp.products_with_any_word('stain to protect a deck') order by 1$$,
    'head office gets exactly the products holding any of the words'
);
select 'rollback to savepoint as_head_office' \gexec

-- The helper read nothing it may not: it wrote nothing either (the transaction was read
-- only throughout), and retail is as it was.
select ok(
    (select count(*) from retail.products) > 0,
    'retail.products is still there after the DROP TABLE texts'
);

select * from finish();
rollback;
