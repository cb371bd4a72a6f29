//! Rows and storage of idempotency keys.

use crate::clock::Timestamp;
use crate::id::UserId;
use async_trait::async_trait;

use super::StoreResult;

/// Where a request under an `Idempotency-Key` is: claimed and running, or
/// done with its response recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdempotencyStatus {
    InProgress,
    Done,
}

super::names::stored_names!(IdempotencyStatus, "idempotency key status", {
    InProgress => "in_progress",
    Done => "done",
});

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub user_id: UserId,
    pub key: String,
    pub request_hash: String,
    pub status: IdempotencyStatus,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
    pub created_at: Timestamp,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The caller owns the key now and must finish or release it. The
    /// time is the claim's `created_at`, which tells this claim from a
    /// later one that took the key over: a release gives up only its own.
    Claimed(Timestamp),
    /// Another request with this key exists.
    Existing(IdempotencyRow),
}

/// Idempotency keys of purchase requests. Claims are ledger commands
/// (`ledger::Command::Claim`), written in the ledger's batches.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Deletes `user_id`'s `key` if it is still the in-progress claim made
    /// at `claimed_at`: a request counted dead, whose key another request
    /// took over, must not free the key under that request.
    async fn release_idempotency_key(
        &self,
        user_id: UserId,
        key: &str,
        claimed_at: Timestamp,
    ) -> StoreResult<()>;
    async fn purge_idempotency_keys(&self, before: Timestamp) -> StoreResult<u64>;
}
