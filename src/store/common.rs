//! The SQL both backends share. `impl_store!` expands the same method bodies
//! for each backend's pool and transaction types; a backend supplies
//! `connect`, `begin_write` (how a write transaction starts) and
//! `LOCK_WALLET` (how a wallet row is locked).

macro_rules! impl_store {
    ($store:ident, $name:literal) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use crate::store::cols::{GRANT_COLS, HOLD_COLS};

        use crate::store::{
            Allocation, ApiKeyRow, BudgetRow, GrantRow, HoldRow, KeyPrincipal, NewUser,
            SigningKeyRow, Store, StoreError, StoreResult, TransactionRow, UserRow,
        };

        const USER_COLS: &str = "id, email, password_hash, role, default_budget_id, created_at";
        const TXN_COLS: &str = "id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id";
        pub(crate) const BUDGET_COLS: &str = "id, user_id, name, status, is_default, created_at, cap_per_call, cap_hourly, cap_daily, cap_weekly, cap_monthly, cap_total";
        const KEY_COLS: &str = "kid, algorithm, private_key_sealed, public_pem, (slot IS NOT NULL) AS current, created_at";

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.writer).await?;
                Ok(())
            }

            async fn claim_marker(&self, key: &str, value: &str, now: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO markers (key, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_user(&self, user: &NewUser) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!("INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                    .bind(&user.id)
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind(&user.role)
                    .bind(&user.budget_id)
                    .bind(user.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::on_unique(e, "email"))?;
                sqlx::query(
                    "INSERT INTO budgets (id, user_id, name, status, is_default, created_at) VALUES ($1, $2, 'Default', 'active', TRUE, $3)",
                )
                .bind(&user.budget_id)
                .bind(&user.id)
                .bind(user.created_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO wallets (user_id, balance_credits, updated_at) VALUES ($1, 0, $2)")
                    .bind(&user.id)
                    .bind(user.created_at)
                    .execute(&mut *tx)
                    .await?;
                for product_id in &user.enabled_products {
                    sqlx::query("INSERT INTO budget_products (budget_id, product_id, created_at) VALUES ($1, $2, $3)")
                        .bind(&user.budget_id)
                        .bind(product_id)
                        .bind(user.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
                Ok(sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
                Ok(sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn count_users(&self) -> StoreResult<i64> {
                Ok(sqlx::query("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?.try_get(0)?)
            }

            async fn budget_by_id(&self, id: &str) -> StoreResult<Option<BudgetRow>> {
                Ok(sqlx::query_as(&format!("SELECT {BUDGET_COLS} FROM budgets WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, user_id, budget_id, name, prefix, key_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&key.id)
                .bind(&key.user_id)
                .bind(&key.budget_id)
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&key.key_hash)
                .bind(key.created_at)
                .bind(key.revoked_at)
                .execute(&self.writer)
                .await
                .map_err(|e| StoreError::on_unique(e, "api key"))?;
                Ok(())
            }

            async fn api_keys_for_budget(&self, budget_id: &str) -> StoreResult<Vec<ApiKeyRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, user_id, budget_id, name, prefix, key_hash, created_at, revoked_at FROM api_keys WHERE budget_id = $1 ORDER BY created_at DESC, id DESC",
                )
                .bind(budget_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn revoke_api_key(&self, budget_id: &str, key_id: &str, now: i64) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND budget_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(key_id)
                .bind(budget_id)
                .execute(&mut *tx)
                .await?;
                self.log_invalidation(&mut tx, crate::store::invalidation::API_KEY, key_id, now).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn invalidations_since(&self, since: i64) -> StoreResult<Vec<(i64, String, String, i64)>> {
                Ok(sqlx::query_as("SELECT seq, kind, key, created_at FROM cache_invalidations WHERE created_at > $1 ORDER BY seq")
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn log_invalidations(&self, kind: &str, keys: &[String], now: i64) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for key in keys {
                    self.log_invalidation(&mut tx, kind, key, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn prune_invalidations(&self, before: i64) -> StoreResult<u64> {
                Ok(sqlx::query("DELETE FROM cache_invalidations WHERE created_at < $1")
                    .bind(before)
                    .execute(&self.writer)
                    .await?
                    .rows_affected())
            }

            async fn principal_for_key_hash(&self, key_hash: &str) -> StoreResult<Option<KeyPrincipal>> {
                Ok(sqlx::query_as(
                    "SELECT k.id AS key_id, k.user_id, k.budget_id, u.role FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
                )
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
                Ok(sqlx::query_as(&format!("SELECT {KEY_COLS} FROM signing_keys ORDER BY created_at DESC, kid"))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn ensure_current_signing_key(&self, key: &SigningKeyRow) -> StoreResult<SigningKeyRow> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, algorithm, private_key_sealed, public_pem, slot, created_at) VALUES ($1, $2, $3, $4, 'current', $5) ON CONFLICT (slot) DO NOTHING",
                )
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.private_key_sealed)
                .bind(&key.public_pem)
                .bind(key.created_at)
                .execute(&self.writer)
                .await?;
                Ok(sqlx::query_as(&format!("SELECT {KEY_COLS} FROM signing_keys WHERE slot = 'current'"))
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn rotate_signing_key(&self, key: &SigningKeyRow) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE signing_keys SET slot = NULL WHERE slot = 'current'")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, algorithm, private_key_sealed, public_pem, slot, created_at) VALUES ($1, $2, $3, $4, 'current', $5)",
                )
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.private_key_sealed)
                .bind(&key.public_pem)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn grant_by_id(&self, id: &str) -> StoreResult<Option<GrantRow>> {
                Ok(sqlx::query_as(&format!("SELECT {GRANT_COLS} FROM grants WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn hold_by_id(&self, id: &str) -> StoreResult<Option<HoldRow>> {
                Ok(sqlx::query_as(&format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn grants_for_user(&self, user_id: &str, limit: i64) -> StoreResult<Vec<GrantRow>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {GRANT_COLS} FROM grants WHERE user_id = $1 ORDER BY date_created DESC, id DESC LIMIT $2"
                ))
                .bind(user_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn transactions_for_user(&self, user_id: &str, limit: i64) -> StoreResult<Vec<TransactionRow>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {TXN_COLS} FROM credit_transactions WHERE user_id = $1 ORDER BY seq DESC LIMIT $2"
                ))
                .bind(user_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn allocations_for_transaction(&self, transaction_id: &str) -> StoreResult<Vec<Allocation>> {
                Ok(sqlx::query_as(
                    "SELECT grant_id, amount_credits FROM ledger_allocations WHERE transaction_id = $1",
                )
                .bind(transaction_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn users_with_due_expirations(&self, now: i64, limit: i64) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT DISTINCT user_id FROM grants WHERE remaining_credits > 0 AND expires_at <= $1 LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn holds_created_before(&self, before: i64, limit: i64) -> StoreResult<Vec<HoldRow>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {HOLD_COLS} FROM holds WHERE created_at < $1 ORDER BY created_at LIMIT $2"
                ))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn overdue_holds(&self, now: i64, limit: i64) -> StoreResult<Vec<HoldRow>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {HOLD_COLS} FROM holds WHERE deadline <= $1 ORDER BY deadline LIMIT $2"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }

    };
}

pub(crate) use impl_store;
