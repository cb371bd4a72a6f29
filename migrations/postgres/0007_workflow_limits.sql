-- Per-user run limits: the trigger counts a user's queued runs and the
-- queue claim counts each user's running runs.
CREATE INDEX runs_user_status ON runs (user_id, status);

-- One row per model call of an LLM run, counted for the per-user hourly and
-- daily limits.
CREATE TABLE model_calls (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX model_calls_user ON model_calls (user_id, created_at);
