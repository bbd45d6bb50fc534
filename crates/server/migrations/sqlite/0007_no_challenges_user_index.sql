-- challenges_user (user_id, status) served one statement: cancelling a
-- user's pending challenges when 2FA was turned off. A challenge now ends
-- at its answer instead (verification and resend check that 2FA has
-- stayed on since it was made), and every login challenge no longer
-- writes a leaf of this index: 15 % of SQLite's WAL pages under a
-- challenge load (docs/BENCHMARKS.md). An older release still running
-- beside this one during a rolling upgrade cancels by a scan of the
-- table instead, when 2FA is turned off.
DROP INDEX IF EXISTS challenges_user;
