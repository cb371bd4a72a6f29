-- Per-user run limits: the trigger counts a user's queued runs and the
-- queue claim counts each user's running runs.
CREATE INDEX runs_user_status ON runs (user_id, status);
