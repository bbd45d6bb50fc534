-- notifications_user (user_id, created_at) is a prefix of
-- notifications_user_newest (user_id, created_at, id), which serves every
-- query the first one did; each notification paid for both.
DROP INDEX IF EXISTS notifications_user;
