//! Storage: one interface, with a SQLite and a PostgreSQL implementation.
//!
//! One trait per area (`accounts.rs`, `catalog.rs`, `orders.rs`, ...) with
//! its rows; [`Store`] combines them. Both backends share the SQL
//! (runtime-checked, `$N` placeholders, times as epoch milliseconds, JSON as
//! text): `store/sql/*.rs` implements each area once, generic over a
//! [`backend::Backend`], and `backend.rs` lists where the dialects differ.
//! The store knows rows, not rules: the money rules live in `ledger`.

mod accounts;
mod approvals;
mod backend;
mod bundles;
mod catalog;
mod credentials;
mod idempotency;
mod instances;
mod issues;
mod ledger;
mod names;
mod orders;
pub mod postgres;
mod sessions;
mod sql;
pub mod sqlite;
mod sqlite_sync;
mod workflows;

use std::sync::Arc;

use async_trait::async_trait;

pub use accounts::*;
pub use approvals::*;
pub use bundles::*;
pub use catalog::*;
pub use credentials::*;
pub use idempotency::*;
pub use instances::*;
pub use issues::*;
pub use ledger::*;
pub use names::UnknownName;
pub use orders::*;
pub use sessions::*;
pub use workflows::*;

/// What a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// From the synchronous SQLite paths (`sqlite_sync.rs`).
    #[error("database error: {0}")]
    Embedded(String),
}

impl StoreError {
    /// Maps a unique-constraint violation to `Conflict(what)`.
    pub(crate) fn on_unique(err: sqlx::Error, what: &'static str) -> StoreError {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Column lists of rows more than one backend module reads, in the order
/// of their row structs.
pub(crate) mod cols {
    pub const GRANT_COLS: &str = "id, user_id, amount_credits, remaining_credits, credit_type, source_metadata, date_created, pooled_at, expires_at, closed_at, closed_reason";
    pub const HOLD_COLS: &str =
        "id, user_id, budget_id, amount_credits, reference, created_at, deadline";
    pub const WALLET_COLS: &str =
        "user_id, balance_credits, entry_count, held_credits, next_expiry";
    pub const BUDGET_COLS: &str = "id, user_id, name, status, is_default, created_at, cap_per_call, cap_hourly, cap_daily, cap_weekly, cap_monthly, cap_total";
    pub const DELIVERY_COLS: &str = "id, run_id, user_id, url, status, attempts, next_attempt_at, lease_expires_at, created_at, updated_at";
    pub const ORDER_COLS: &str = "id, user_id, budget_id, product_id, action, price_credits, status, error_code, instance_id, run_id, transaction_id, created_at, completed_at, duration_ms";
}

/// Kinds of rows in the cache invalidation log, read by every node.
pub mod invalidation {
    /// `key` is an API key id.
    pub const API_KEY: &str = "api_key";
    /// `key` is a budget id: its row or its enabled products changed.
    pub const BUDGET: &str = "budget";
    /// `key` is a user id: their role or sessions changed.
    pub const USER: &str = "user";
}

/// Opens the store a database URL names: `sqlite:` or `postgres:`.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL (use sqlite://PATH or postgres://...): {}",
            redact_url(url)
        )
    }
}

/// A database URL with any password masked, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The storage interface: every area's trait, on one backend.
#[async_trait]
pub trait Store:
    AccountStore
    + CredentialStore
    + CatalogStore
    + InstanceStore
    + OrderStore
    + IdempotencyStore
    + ApprovalStore
    + IssueStore
    + LedgerStore
    + LedgerHistory
    + WorkflowStore
    + RunStore
    + DeliveryStore
    + BundleStore
    + SessionStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
}
