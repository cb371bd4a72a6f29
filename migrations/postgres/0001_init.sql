-- Accounts, budgets, keys, signing keys and the credit ledger.
-- Times are epoch milliseconds; JSON is stored as text.

CREATE TABLE markers (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'vendor', 'customer')),
    default_budget_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE budgets (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX budgets_user ON budgets (user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    budget_id TEXT NOT NULL REFERENCES budgets (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_budget ON api_keys (budget_id);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    -- 'current' for the one key that signs; NULL for older keys kept to verify.
    slot TEXT UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE wallets (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    balance_credits BIGINT NOT NULL DEFAULT 0 CHECK (balance_credits >= 0),
    -- How many ledger entries the wallet has; the next entry's sequence number.
    entry_count BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    amount_credits BIGINT NOT NULL CHECK (amount_credits > 0),
    remaining_credits BIGINT NOT NULL CHECK (remaining_credits >= 0),
    credit_type TEXT NOT NULL,
    source_metadata TEXT,
    date_created BIGINT NOT NULL,
    pooled_at BIGINT,
    expires_at BIGINT,
    closed_at BIGINT,
    closed_reason TEXT,
    CHECK (remaining_credits <= amount_credits)
);
CREATE INDEX grants_user ON grants (user_id, date_created);
CREATE INDEX grants_due ON grants (expires_at) WHERE remaining_credits > 0;

CREATE TABLE credit_transactions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    transaction_type TEXT NOT NULL CHECK (transaction_type IN ('grant', 'expiration', 'revocation', 'purchase')),
    amount_credits BIGINT NOT NULL,
    balance_after_credits BIGINT NOT NULL CHECK (balance_after_credits >= 0),
    grant_id TEXT REFERENCES grants (id),
    reference TEXT,
    date_created BIGINT NOT NULL,
    -- Position in the wallet's ledger: exact order even within one millisecond.
    seq BIGINT NOT NULL,
    UNIQUE (user_id, seq)
);
-- A grant is created, expired and revoked at most once each.
CREATE UNIQUE INDEX credit_transactions_once ON credit_transactions (grant_id, transaction_type)
    WHERE grant_id IS NOT NULL;

CREATE TABLE ledger_allocations (
    transaction_id TEXT NOT NULL REFERENCES credit_transactions (id),
    grant_id TEXT NOT NULL REFERENCES grants (id),
    amount_credits BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, grant_id)
);

CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    budget_id TEXT,
    amount_credits BIGINT NOT NULL CHECK (amount_credits > 0),
    reference TEXT,
    created_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL
);
CREATE INDEX holds_user ON holds (user_id);
CREATE INDEX holds_deadline ON holds (deadline);
