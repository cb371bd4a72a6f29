//! Storage: one interface, with a SQLite and a PostgreSQL implementation.
//!
//! Both backends share their SQL (runtime-checked, `$N` placeholders, times
//! as epoch milliseconds, JSON as text) through the `impl_store!` macro in
//! `store/common.rs`; only connection set-up, migrations and the wallet lock
//! differ. The store knows rows, not rules: the money rules live in `ledger`.

mod bundles;
mod bundles_sql;
mod catalog;
mod catalog_sql;
mod common;
mod ledger;
mod ledger_sql;
pub mod postgres;
mod sessions;
mod sessions_sql;
pub mod sqlite;
mod sqlite_sync;
mod workflows;
mod workflows_sql;

use std::sync::Arc;

use async_trait::async_trait;

pub use bundles::*;
pub use catalog::*;
pub use ledger::*;
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub default_budget_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BudgetRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub status: String,
    pub is_default: bool,
    pub created_at: i64,
    pub cap_per_call: Option<i64>,
    pub cap_hourly: Option<i64>,
    pub cap_daily: Option<i64>,
    pub cap_weekly: Option<i64>,
    pub cap_monthly: Option<i64>,
    pub cap_total: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub budget_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Who an API key acts for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyPrincipal {
    pub key_id: String,
    pub user_id: String,
    pub budget_id: String,
    pub role: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    /// The PKCS#8 private key, sealed with the master key.
    pub private_key_sealed: String,
    pub public_pem: String,
    pub current: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GrantRow {
    pub id: String,
    pub user_id: String,
    pub amount_credits: i64,
    pub remaining_credits: i64,
    pub credit_type: String,
    pub source_metadata: Option<String>,
    pub date_created: i64,
    pub pooled_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TransactionRow {
    pub id: String,
    pub user_id: String,
    pub transaction_type: String,
    pub amount_credits: i64,
    pub balance_after_credits: i64,
    pub grant_id: Option<String>,
    pub reference: Option<String>,
    pub date_created: i64,
    /// The budget a purchase was made under.
    pub budget_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HoldRow {
    pub id: String,
    pub user_id: String,
    pub budget_id: Option<String>,
    pub amount_credits: i64,
    pub reference: Option<String>,
    pub created_at: i64,
    pub deadline: i64,
}

/// One grant's share of a debit.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Allocation {
    pub grant_id: String,
    pub amount_credits: i64,
}

/// A new user with their default budget and empty wallet.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub budget_id: String,
    pub created_at: i64,
    /// Products enabled on the default budget from the start.
    pub enabled_products: Vec<String>,
}

/// The storage interface.
#[async_trait]
pub trait Store:
    CatalogStore + WorkflowStore + BundleStore + LedgerStore + SessionStore + Send + Sync + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;

    /// Claims a one-time marker; true for the one caller that set it.
    async fn claim_marker(&self, key: &str, value: &str, now: i64) -> StoreResult<bool>;

    async fn create_user(&self, user: &NewUser) -> StoreResult<()>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn budget_by_id(&self, id: &str) -> StoreResult<Option<BudgetRow>>;

    async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()>;
    async fn api_keys_for_budget(&self, budget_id: &str) -> StoreResult<Vec<ApiKeyRow>>;
    /// Revokes a live key of the budget; false when there is none.
    async fn revoke_api_key(&self, budget_id: &str, key_id: &str, now: i64) -> StoreResult<bool>;
    /// Rows of the cache invalidation log written after `since`: (seq, kind, key, created_at).
    async fn invalidations_since(&self, since: i64)
        -> StoreResult<Vec<(i64, String, String, i64)>>;
    /// Writes invalidation log rows (see `cache`), in one transaction.
    async fn log_invalidations(&self, kind: &str, keys: &[String], now: i64) -> StoreResult<()>;
    async fn prune_invalidations(&self, before: i64) -> StoreResult<u64>;
    /// The principal of a live key with this hash.
    async fn principal_for_key_hash(&self, key_hash: &str) -> StoreResult<Option<KeyPrincipal>>;

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>>;
    /// Inserts `key` as the current key unless one already is; returns the current key.
    async fn ensure_current_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow>;
    /// Makes `key` the current key, keeping the old ones for verification.
    async fn rotate_signing_key(&self, key: &SigningKeyRow) -> StoreResult<()>;

    async fn grant_by_id(&self, id: &str) -> StoreResult<Option<GrantRow>>;
    async fn hold_by_id(&self, id: &str) -> StoreResult<Option<HoldRow>>;
    async fn grants_for_user(&self, user_id: &str, limit: i64) -> StoreResult<Vec<GrantRow>>;
    async fn transactions_for_user(
        &self,
        user_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRow>>;
    async fn allocations_for_transaction(
        &self,
        transaction_id: &str,
    ) -> StoreResult<Vec<Allocation>>;
    /// Users with grants that expired by `now` and still hold credits.
    async fn users_with_due_expirations(&self, now: i64, limit: i64) -> StoreResult<Vec<String>>;
    /// Holds whose deadline passed by `now`.
    async fn overdue_holds(&self, now: i64, limit: i64) -> StoreResult<Vec<HoldRow>>;
    /// Holds made before `before`.
    async fn holds_created_before(&self, before: i64, limit: i64) -> StoreResult<Vec<HoldRow>>;
}
