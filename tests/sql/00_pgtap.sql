-- The test database has pgTAP and the schema the other files test.
begin;
select plan(2);

select has_extension('pgtap', 'pgTAP is installed in the test database');
select has_extension('vector', 'pgvector is installed');

select * from finish();
rollback;
