-- SQLite's 0006 drops audit_user and audit_contract, which no query of
-- SQLite's reads. PostgreSQL keeps them: its planner uses them for an audit
-- export filtered by user or contract (a bitmap scan instead of a walk of
-- the whole chain). Nothing to change here; the migration exists so that
-- both engines' migrations keep the same names.
SELECT 1;
