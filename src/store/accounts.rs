//! Rows and storage of accounts: users, budgets, API keys.

use crate::clock::Timestamp;
use crate::id::ApiKeyId;
use crate::id::ProductId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;

use crate::money::Credits;

use super::StoreResult;

/// Roles a user can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Vendor,
    Customer,
}

super::names::stored_names!(Role, "role", {
    Admin => "admin",
    Vendor => "vendor",
    Customer => "customer",
});

impl Role {
    /// The role named `s`, if any.
    pub fn parse(s: &str) -> Option<Role> {
        s.parse().ok()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub default_budget_id: BudgetId,
    pub created_at: Timestamp,
}

/// Whether a budget's keys may spend: a paused budget refuses purchases
/// and triggers until its owner resumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetStatus {
    Active,
    Paused,
}

super::names::stored_names!(BudgetStatus, "budget status", {
    Active => "active",
    Paused => "paused",
});

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BudgetRow {
    pub id: BudgetId,
    pub user_id: UserId,
    pub name: String,
    pub status: BudgetStatus,
    pub is_default: bool,
    pub created_at: Timestamp,
    pub cap_per_call: Option<Credits>,
    pub cap_hourly: Option<Credits>,
    pub cap_daily: Option<Credits>,
    pub cap_weekly: Option<Credits>,
    pub cap_monthly: Option<Credits>,
    pub cap_total: Option<Credits>,
}

impl BudgetRow {
    /// The caps in column order: per call, hourly, daily, weekly, monthly,
    /// total.
    pub fn caps(&self) -> [Option<Credits>; 6] {
        [
            self.cap_per_call,
            self.cap_hourly,
            self.cap_daily,
            self.cap_weekly,
            self.cap_monthly,
            self.cap_total,
        ]
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Who an API key acts for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyPrincipal {
    pub key_id: ApiKeyId,
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub role: Role,
}

/// A new user with their default budget and empty wallet.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub budget_id: BudgetId,
    pub created_at: Timestamp,
    /// Products enabled on the default budget from the start.
    pub enabled_products: Vec<ProductId>,
}

/// Users, their budgets, API keys, one-time markers and the cache invalidation log.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Claims a one-time marker; true for the one caller that set it.
    async fn claim_marker(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<bool>;
    async fn create_user(&self, user: &NewUser) -> StoreResult<()>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRow>>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn budget_by_id(&self, id: BudgetId) -> StoreResult<Option<BudgetRow>>;
    async fn budgets_for_user(&self, user_id: UserId) -> StoreResult<Vec<BudgetRow>>;
    async fn insert_budget(&self, b: &BudgetRow) -> StoreResult<()>;
    async fn update_budget(&self, b: &BudgetRow) -> StoreResult<()>;
    async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()>;
    async fn api_keys_for_budget(&self, budget_id: BudgetId) -> StoreResult<Vec<ApiKeyRow>>;
    /// Revokes a live key of the budget; false when there is none.
    async fn revoke_api_key(
        &self,
        budget_id: BudgetId,
        key_id: ApiKeyId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The principal of a live key with this hash.
    async fn principal_for_key_hash(&self, key_hash: &str) -> StoreResult<Option<KeyPrincipal>>;
    /// Rows of the cache invalidation log written after `since`: (seq, kind, key, created_at).
    async fn invalidations_since(
        &self,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, String, String, i64)>>;
    /// Writes invalidation log rows (see `cache`), in one transaction.
    async fn log_invalidations(
        &self,
        kind: &str,
        keys: &[String],
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn prune_invalidations(&self, before: Timestamp) -> StoreResult<u64>;
}
