-- No query of SQLite's reads audit_user (user_id, at) or audit_contract
-- (contract_id, at): the audit export walks the chain by seq and filters
-- (EXPLAIN QUERY PLAN: the seq index, whatever the filters), and nothing
-- else looks events up by user or contract. Every audit event paid for
-- both: for each login challenge a leaf page of audit_user of its own, a
-- fifth of the WAL's pages under a challenge load (docs/BENCHMARKS.md).
-- PostgreSQL keeps them: its planner uses them for a filtered export.
DROP INDEX IF EXISTS audit_user;
DROP INDEX IF EXISTS audit_contract;
