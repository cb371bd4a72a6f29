-- The tool catalog, budgets' policies, instances, orders, idempotency keys,
-- credentials, approval requests and issue reports.

ALTER TABLE budgets ADD COLUMN cap_per_call BIGINT;
ALTER TABLE budgets ADD COLUMN cap_hourly BIGINT;
ALTER TABLE budgets ADD COLUMN cap_daily BIGINT;
ALTER TABLE budgets ADD COLUMN cap_weekly BIGINT;
ALTER TABLE budgets ADD COLUMN cap_monthly BIGINT;
ALTER TABLE budgets ADD COLUMN cap_total BIGINT;

ALTER TABLE credit_transactions ADD COLUMN budget_id TEXT;
CREATE INDEX credit_transactions_budget ON credit_transactions (budget_id, date_created)
    WHERE budget_id IS NOT NULL;

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    vendor_id TEXT REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('builtin', 'http')),
    endpoint TEXT,
    required_credentials TEXT NOT NULL DEFAULT '[]',
    actions TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    timeout_ms BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE budget_products (
    budget_id TEXT NOT NULL REFERENCES budgets (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (budget_id, product_id)
);

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    budget_id TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE TABLE instance_memory (
    instance_id TEXT NOT NULL REFERENCES instances (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, key)
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    budget_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    action TEXT NOT NULL,
    price_credits BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    error_code TEXT,
    instance_id TEXT,
    run_id TEXT,
    transaction_id TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    duration_ms BIGINT
);
CREATE INDEX orders_user ON orders (user_id, created_at);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
    response_status BIGINT,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

CREATE TABLE credentials (
    user_id TEXT NOT NULL REFERENCES users (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    name TEXT NOT NULL,
    value_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, product_id, name)
);

CREATE TABLE approval_requests (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    budget_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'denied')),
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
);
-- One open request per budget, kind and subject: repeats do not pile up.
CREATE UNIQUE INDEX approval_requests_open ON approval_requests (budget_id, kind, subject_id)
    WHERE status = 'open';
CREATE INDEX approval_requests_user ON approval_requests (user_id, created_at);

CREATE TABLE issue_reports (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    product_id TEXT,
    product_ref TEXT NOT NULL,
    product_name TEXT,
    lookup_method TEXT NOT NULL,
    error_message TEXT NOT NULL,
    recommended_improvements TEXT,
    instance_id TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX issue_reports_product ON issue_reports (product_id, created_at);
CREATE INDEX issue_reports_user ON issue_reports (user_id, created_at);
