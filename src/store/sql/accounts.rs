//! Accounts: users, budgets, API keys, one-time markers and the cache
//! invalidation log.

use crate::clock::Timestamp;
use crate::id::ApiKeyId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{log_invalidation, Args, Conn, DbRow};
use crate::money::Credits;
use crate::store::backend::{Backend, RowsAffected};
use crate::store::cols::BUDGET_COLS;
use crate::store::invalidation;
use crate::store::{
    AccountStore, ApiKeyRow, BudgetRow, KeyPrincipal, NewUser, StoreError, StoreResult, UserRow,
};

const USER_COLS: &str = "id, email, password_hash, role, default_budget_id, created_at";

#[async_trait]
impl<S> AccountStore for S
where
    S: Backend,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
    for<'q> Args<'q, S>: IntoArguments<'q, S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<&'q str>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<String>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> UserId: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<UserId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> BudgetId: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<BudgetId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Timestamp: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Timestamp>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> bool: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> UserRow: FromRow<'r, DbRow<S>>,
    for<'r> BudgetRow: FromRow<'r, DbRow<S>>,
    for<'r> ApiKeyRow: FromRow<'r, DbRow<S>>,
    for<'r> KeyPrincipal: FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
    for<'r> (i64, String, String, i64): FromRow<'r, DbRow<S>>,
{
    async fn claim_marker(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO markers (key, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.budget_id)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "email"))?;
        sqlx::query(
            "INSERT INTO budgets (id, user_id, name, status, is_default, created_at) VALUES ($1, $2, 'Default', 'active', TRUE, $3)",
        )
        .bind(user.budget_id)
        .bind(user.id)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO wallets (user_id, balance_credits, updated_at) VALUES ($1, 0, $2)",
        )
        .bind(user.id)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await?;
        for product_id in &user.enabled_products {
            sqlx::query("INSERT INTO budget_products (budget_id, product_id, created_at) VALUES ($1, $2, $3)")
                .bind(user.budget_id)
                .bind(product_id)
                .bind(user.created_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
                .bind(email)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    async fn budget_by_id(&self, id: BudgetId) -> StoreResult<Option<BudgetRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {BUDGET_COLS} FROM budgets WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn budgets_for_user(&self, user_id: UserId) -> StoreResult<Vec<BudgetRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {BUDGET_COLS} FROM budgets WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    async fn insert_budget(&self, b: &BudgetRow) -> StoreResult<()> {
        let sql = format!("INSERT INTO budgets ({BUDGET_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
        let mut q = sqlx::query(&sql)
            .bind(b.id)
            .bind(b.user_id)
            .bind(&b.name)
            .bind(b.status.as_str())
            .bind(b.is_default)
            .bind(b.created_at);
        for cap in b.caps() {
            q = q.bind(cap.map(Credits::get));
        }
        q.execute(self.writer()).await?;
        Ok(())
    }

    async fn update_budget(&self, b: &BudgetRow) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let mut q = sqlx::query(
            "UPDATE budgets SET name = $2, status = $3, cap_per_call = $4, cap_hourly = $5, cap_daily = $6, \
             cap_weekly = $7, cap_monthly = $8, cap_total = $9 WHERE id = $1",
        )
        .bind(b.id)
        .bind(&b.name)
        .bind(b.status.as_str());
        for cap in b.caps() {
            q = q.bind(cap.map(Credits::get));
        }
        q.execute(&mut *tx).await?;
        log_invalidation(
            &mut tx,
            invalidation::BUDGET,
            &b.id.to_string(),
            Timestamp::from(chrono::Utc::now()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, budget_id, name, prefix, key_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.id)
        .bind(key.user_id)
        .bind(key.budget_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.key_hash)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::on_unique(e, "api key"))?;
        Ok(())
    }

    async fn api_keys_for_budget(&self, budget_id: BudgetId) -> StoreResult<Vec<ApiKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, budget_id, name, prefix, key_hash, created_at, revoked_at FROM api_keys WHERE budget_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(budget_id)
        .fetch_all(self.pool())
        .await?)
    }

    async fn revoke_api_key(
        &self,
        budget_id: BudgetId,
        key_id: ApiKeyId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND budget_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(key_id)
        .bind(budget_id)
        .execute(&mut *tx)
        .await?;
        log_invalidation(&mut tx, invalidation::API_KEY, &key_id.to_string(), now).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn principal_for_key_hash(&self, key_hash: &str) -> StoreResult<Option<KeyPrincipal>> {
        Ok(sqlx::query_as(
            "SELECT k.id AS key_id, k.user_id, k.budget_id, u.role FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn invalidations_since(
        &self,
        since: Timestamp,
    ) -> StoreResult<Vec<(i64, String, String, i64)>> {
        Ok(sqlx::query_as("SELECT seq, kind, key, created_at FROM cache_invalidations WHERE created_at > $1 ORDER BY seq")
            .bind(since)
            .fetch_all(self.pool())
            .await?)
    }

    async fn log_invalidations(
        &self,
        kind: &str,
        keys: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            log_invalidation(&mut tx, kind, key, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn prune_invalidations(&self, before: Timestamp) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM cache_invalidations WHERE created_at < $1")
                .bind(before)
                .execute(self.writer())
                .await?
                .rows_affected(),
        )
    }
}
