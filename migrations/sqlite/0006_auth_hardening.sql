-- Ending sessions and retiring signing keys. Times are epoch milliseconds.

-- Access tokens ended by POST /auth/logout, kept until they expire anyway.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- Access tokens issued before this are refused (set by a role change).
ALTER TABLE users ADD COLUMN sessions_valid_after INTEGER NOT NULL DEFAULT 0;

-- Signing keys taken out of use; their rows are deleted from signing_keys.
CREATE TABLE retired_signing_keys (
    kid TEXT PRIMARY KEY,
    retired_at INTEGER NOT NULL
);
