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
pub mod postgres;
mod sessions;
mod sessions_sql;
pub mod sqlite;
mod workflows;
mod workflows_sql;

use std::sync::Arc;

use async_trait::async_trait;

pub use bundles::*;
pub use catalog::*;
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

/// A read of a wallet without taking its lock.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletSnapshot {
    /// Remaining credits of grants not expired at the read time.
    pub live_credits: i64,
    /// Credits reserved by holds.
    pub held_credits: i64,
    /// The soonest expiry among live grants with credits left.
    pub next_expiry: Option<i64>,
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

/// What a budget has spent, for its caps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetSpend {
    pub hour: i64,
    pub day: i64,
    pub week: i64,
    pub month: i64,
    pub total: i64,
    /// Reserved by holds in flight.
    pub held: i64,
}

/// The storage interface.
#[async_trait]
pub trait Store:
    CatalogStore + WorkflowStore + BundleStore + SessionStore + Send + Sync + 'static
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
    /// The principal of a live key with this hash.
    async fn principal_for_key_hash(&self, key_hash: &str) -> StoreResult<Option<KeyPrincipal>>;

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>>;
    /// Inserts `key` as the current key unless one already is; returns the current key.
    async fn ensure_current_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow>;
    /// Makes `key` the current key, keeping the old ones for verification.
    async fn rotate_signing_key(&self, key: &SigningKeyRow) -> StoreResult<()>;

    /// Starts a ledger transaction holding the wallet's lock.
    async fn begin_ledger(&self, user_id: &str) -> StoreResult<Box<dyn LedgerTx>>;
    async fn wallet_snapshot(&self, user_id: &str, now: i64) -> StoreResult<WalletSnapshot>;
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
}

/// A ledger transaction on one wallet, holding its lock until commit or drop.
#[async_trait]
pub trait LedgerTx: Send {
    /// The wallet's ledger balance (the sum of its transactions).
    fn balance(&self) -> i64;
    /// Grants with credits left whose expiry is at or before `now`.
    async fn due_grants(&mut self, now: i64) -> StoreResult<Vec<GrantRow>>;
    /// Every grant with credits left, due or not.
    async fn open_grants(&mut self) -> StoreResult<Vec<GrantRow>>;
    /// Remaining credits of grants live at `now`, and credits held, in one read.
    async fn live_and_held(&mut self, now: i64) -> StoreResult<(i64, i64)>;
    async fn insert_order(&mut self, order: &OrderRow) -> StoreResult<()>;
    /// Records the finished response of the wallet owner's idempotency key.
    async fn finish_idempotency_key(
        &mut self,
        key: &str,
        status: i64,
        body: &str,
    ) -> StoreResult<()>;
    async fn finish_order(
        &mut self,
        id: &str,
        status: &str,
        error_code: Option<&str>,
        transaction_id: Option<&str>,
        completed_at: i64,
        duration_ms: i64,
    ) -> StoreResult<()>;
    async fn grant(&mut self, id: &str) -> StoreResult<Option<GrantRow>>;
    async fn insert_grant(&mut self, grant: &GrantRow) -> StoreResult<()>;
    async fn close_grant(
        &mut self,
        id: &str,
        remaining: i64,
        closed_at: Option<i64>,
        reason: Option<&str>,
    ) -> StoreResult<()>;
    async fn insert_transaction(
        &mut self,
        txn: &TransactionRow,
        allocations: &[Allocation],
    ) -> StoreResult<()>;
    async fn set_balance(&mut self, balance: i64, now: i64) -> StoreResult<()>;
    async fn held_total(&mut self) -> StoreResult<i64>;
    /// Purchases under a budget since each window's start, and its holds.
    async fn budget_spend(&mut self, budget_id: &str, since: [i64; 4]) -> StoreResult<BudgetSpend>;
    async fn hold(&mut self, id: &str) -> StoreResult<Option<HoldRow>>;
    async fn insert_hold(&mut self, hold: &HoldRow) -> StoreResult<()>;
    async fn delete_hold(&mut self, id: &str) -> StoreResult<()>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
