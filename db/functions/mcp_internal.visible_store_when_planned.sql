-- mcp_internal.visible_store_when_planned() -> integer
--
-- The second test of the orders and inventory policies, there for the planner: the
-- current role's store when it sees exactly one (a store manager), null otherwise (head
-- office; a role that acts for nobody). The policies' first test,
-- `store_id = any((select mcp_internal.visible_store_ids()))`, is a value PostgreSQL
-- cannot see when it plans: it guessed ten stores' worth for a manager (74 % of the
-- orders where one store's are 20 %) and planned for all of them, hash joins sized for
-- every store, parallel scans. Declared IMMUTABLE (which it is not: it reads the
-- mapping) so that PostgreSQL calls it while it plans and writes the answer into the plan
-- as a constant: the policy then reads `... and store_id = 1`, which PostgreSQL estimates
-- from the column's statistics and carries over joins on store_id, as it does a
-- hand-written filter. For head office the second test reads `null is null or ...` and is
-- folded away: its plans and its cost per row stay as they were.
--
-- Safe however stale the constant is, because it only narrows: a row must also pass the
-- first test, evaluated when the query runs. A plan PostgreSQL keeps (a prepared
-- statement, a PL/pgSQL statement) is planned again when the role changes, as for any
-- query under row level security; a store given to another principal while a session
-- keeps a plan would show that session neither store's rows through it, never the old
-- store's (tests/sql/04_policies.sql). SECURITY INVOKER, so current_user is the caller's
-- role; store_ids_of_role answers only for the session's own roles.
set role {{ owner }};

create or replace function mcp_internal.visible_store_when_planned()
returns integer
language sql
immutable
parallel safe
return (
    select case when count(*) = 1 then min(listed.id) end
    from unnest(mcp_internal.store_ids_of_role(current_user)) as listed (id)
);

comment on function mcp_internal.visible_store_when_planned() is
'The current role''s store when it sees exactly one, else null: the orders and inventory policies'' test that PostgreSQL folds into the plan so that it plans a manager''s query as with a hand-written store filter; their run-time test still decides.';

grant execute on function mcp_internal.visible_store_when_planned() to {{ reader }};

reset role;
