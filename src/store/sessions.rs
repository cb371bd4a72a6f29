//! Storage of what ends sessions: logged-out tokens, per-user cut-offs and
//! retired signing keys.

use super::Role;
use crate::clock::Timestamp;
use crate::id::UserId;
use async_trait::async_trait;

use super::StoreResult;

/// What decides whether a user's access token still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Tokens issued before this (epoch ms) are refused.
    pub sessions_valid_after: i64,
    /// The token was logged out.
    pub revoked: bool,
}

/// What `retire_signing_key` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetireOutcome {
    Retired,
    /// The key signs new tokens; rotate first.
    Current,
    AlreadyRetired,
    NotFound,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    /// The PKCS#8 private key, sealed with the master key.
    pub private_key_sealed: String,
    pub public_pem: String,
    pub current: bool,
    pub created_at: Timestamp,
}

/// What ends sessions (logged-out tokens, per-user cut-offs) and the signing keys.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records a logged-out token until `expires_at`; repeating is harmless.
    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> StoreResult<()>;
    /// The session state of `user_id` for token `jti`; `None` when the user
    /// does not exist.
    async fn session_state(&self, user_id: UserId, jti: &str) -> StoreResult<Option<SessionState>>;
    /// Drops revocations of tokens expired by `now`; returns how many.
    async fn purge_revoked_tokens(&self, now: Timestamp) -> StoreResult<u64>;
    /// Changes a user's role and ends their sessions; false when no such user.
    async fn set_user_role(&self, user_id: UserId, role: Role, now: Timestamp)
        -> StoreResult<bool>;
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>>;
    /// Inserts `key` as the current key unless one already is; returns the current key.
    async fn ensure_current_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow>;
    /// Makes `key` the current key, keeping the old ones for verification.
    async fn rotate_signing_key(&self, key: &SigningKeyRow) -> StoreResult<()>;
    /// The kids of the signing keys in use, and whether each is current:
    /// a cheap check for changes made by other nodes.
    async fn signing_key_ids(&self) -> StoreResult<Vec<(String, bool)>>;
    /// Takes a non-current key out of use for good.
    async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StoreResult<RetireOutcome>;
}
