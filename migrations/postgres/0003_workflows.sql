-- Workflows, their runs (a durable queue with leases), step results,
-- chat sessions, webhook signing secrets and the callback outbox.

CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'public')),
    engine TEXT NOT NULL CHECK (engine IN ('graph', 'llm')),
    definition TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX workflows_owner ON workflows (owner_id);

CREATE TABLE budget_workflows (
    budget_id TEXT NOT NULL REFERENCES budgets (id),
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (budget_id, workflow_id)
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    budget_id TEXT NOT NULL,
    request_id TEXT,
    prompt TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    response_text TEXT,
    session_id TEXT,
    model TEXT,
    error_code TEXT,
    error_message TEXT,
    callback_url TEXT,
    callback_status TEXT NOT NULL CHECK (callback_status IN ('pending', 'delivered', 'failed', 'skipped')),
    callback_last_status BIGINT,
    callback_last_error TEXT,
    callback_attempted_at BIGINT,
    callback_delivered_at BIGINT,
    callback_attempts BIGINT NOT NULL DEFAULT 0,
    request_metadata TEXT NOT NULL DEFAULT '{}',
    run_metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE
);
-- request_id is an idempotency key per caller and workflow.
CREATE UNIQUE INDEX runs_request ON runs (user_id, workflow_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX runs_queue ON runs (status, created_at);

-- Finished steps of a run, so a run taken over after a crash does not
-- repeat (or pay again for) what already happened.
CREATE TABLE run_steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    step_key TEXT NOT NULL,
    output TEXT NOT NULL,
    order_id TEXT,
    credits BIGINT NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_key)
);

CREATE TABLE chat_messages (
    session_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE webhook_secrets (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The callback outbox: one delivery per run, retried until it lands.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE REFERENCES runs (id),
    user_id TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
