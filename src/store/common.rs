//! The SQL both backends share. `impl_store!` expands the same method bodies
//! for each backend's pool and transaction types; a backend supplies
//! `connect`, `begin_write` (how a write transaction starts) and
//! `LOCK_WALLET` (how a wallet row is locked).

macro_rules! impl_store {
    ($store:ident, $tx:ident, $db:ty, $name:literal) => {
        use async_trait::async_trait;
        use sqlx::Row;

        use crate::store::{
            Allocation, ApiKeyRow, BudgetRow, BudgetSpend, GrantRow, HoldRow, OrderRow, KeyPrincipal, LedgerTx, NewUser,
            SigningKeyRow, Store, StoreError, StoreResult, TransactionRow, UserRow, WalletSnapshot,
        };

        const USER_COLS: &str = "id, email, password_hash, role, default_budget_id, created_at";
        const GRANT_COLS: &str = "id, user_id, amount_credits, remaining_credits, credit_type, source_metadata, date_created, pooled_at, expires_at, closed_at, closed_reason";
        const TXN_COLS: &str = "id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id";
        const HOLD_COLS: &str = "id, user_id, budget_id, amount_credits, reference, created_at, deadline";
        pub(crate) const BUDGET_COLS: &str = "id, user_id, name, status, is_default, created_at, cap_per_call, cap_hourly, cap_daily, cap_weekly, cap_monthly, cap_total";
        const ORDER_COLS: &str = "id, user_id, budget_id, product_id, action, price_credits, status, error_code, instance_id, run_id, transaction_id, created_at, completed_at, duration_ms";
        const KEY_COLS: &str = "kid, algorithm, private_key_sealed, public_pem, (slot IS NOT NULL) AS current, created_at";

        /// A ledger transaction holding one wallet's lock.
        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
            user_id: String,
            balance: i64,
            entries: i64,
        }

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
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND budget_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(key_id)
                .bind(budget_id)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
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

            async fn begin_ledger(&self, user_id: &str) -> StoreResult<Box<dyn LedgerTx>> {
                let mut tx = self.begin_write().await?;
                let row: Option<(i64, i64)> = sqlx::query_as(Self::LOCK_WALLET)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (balance, entries) = row.ok_or(StoreError::NotFound)?;
                Ok(Box::new($tx { tx, user_id: user_id.to_string(), balance, entries }))
            }

            async fn wallet_snapshot(&self, user_id: &str, now: i64) -> StoreResult<WalletSnapshot> {
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(remaining_credits), 0) AS BIGINT), MIN(expires_at) FROM grants WHERE user_id = $1 AND remaining_credits > 0 AND (expires_at IS NULL OR expires_at > $2)",
                )
                .bind(user_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let held: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(amount_credits), 0) AS BIGINT) FROM holds WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(WalletSnapshot { live_credits: row.try_get(0)?, held_credits: held, next_expiry: row.try_get(1)? })
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

        #[async_trait]
        impl LedgerTx for $tx {
            fn balance(&self) -> i64 {
                self.balance
            }

            async fn due_grants(&mut self, now: i64) -> StoreResult<Vec<GrantRow>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {GRANT_COLS} FROM grants WHERE user_id = $1 AND remaining_credits > 0 AND expires_at <= $2"
                ))
                .bind(&self.user_id)
                .bind(now)
                .fetch_all(&mut *self.tx)
                .await?)
            }

            async fn open_grants(&mut self) -> StoreResult<Vec<GrantRow>> {
                Ok(sqlx::query_as(&format!("SELECT {GRANT_COLS} FROM grants WHERE user_id = $1 AND remaining_credits > 0"))
                    .bind(&self.user_id)
                    .fetch_all(&mut *self.tx)
                    .await?)
            }

            async fn live_and_held(&mut self, now: i64) -> StoreResult<(i64, i64)> {
                Ok(sqlx::query_as(
                    "SELECT CAST(COALESCE((SELECT SUM(remaining_credits) FROM grants WHERE user_id = $1 AND remaining_credits > 0 \
                     AND (expires_at IS NULL OR expires_at > $2)), 0) AS BIGINT), \
                     CAST(COALESCE((SELECT SUM(amount_credits) FROM holds WHERE user_id = $1), 0) AS BIGINT)",
                )
                .bind(&self.user_id)
                .bind(now)
                .fetch_one(&mut *self.tx)
                .await?)
            }

            async fn finish_idempotency_key(&mut self, key: &str, status: i64, body: &str) -> StoreResult<()> {
                sqlx::query("UPDATE idempotency_keys SET status = 'done', response_status = $3, response_body = $4 WHERE user_id = $1 AND key = $2")
                    .bind(&self.user_id)
                    .bind(key)
                    .bind(status)
                    .bind(body)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn insert_order(&mut self, o: &OrderRow) -> StoreResult<()> {
                sqlx::query(&format!("INSERT INTO orders ({ORDER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"))
                    .bind(&o.id)
                    .bind(&o.user_id)
                    .bind(&o.budget_id)
                    .bind(&o.product_id)
                    .bind(&o.action)
                    .bind(o.price_credits)
                    .bind(&o.status)
                    .bind(&o.error_code)
                    .bind(&o.instance_id)
                    .bind(&o.run_id)
                    .bind(&o.transaction_id)
                    .bind(o.created_at)
                    .bind(o.completed_at)
                    .bind(o.duration_ms)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn finish_order(&mut self, id: &str, status: &str, error_code: Option<&str>, transaction_id: Option<&str>, completed_at: i64, duration_ms: i64) -> StoreResult<()> {
                sqlx::query("UPDATE orders SET status = $2, error_code = $3, transaction_id = $4, completed_at = $5, duration_ms = $6 WHERE id = $1")
                    .bind(id)
                    .bind(status)
                    .bind(error_code)
                    .bind(transaction_id)
                    .bind(completed_at)
                    .bind(duration_ms)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn grant(&mut self, id: &str) -> StoreResult<Option<GrantRow>> {
                Ok(sqlx::query_as(&format!("SELECT {GRANT_COLS} FROM grants WHERE id = $1 AND user_id = $2"))
                    .bind(id)
                    .bind(&self.user_id)
                    .fetch_optional(&mut *self.tx)
                    .await?)
            }

            async fn insert_grant(&mut self, g: &GrantRow) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO grants ({GRANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&g.id)
                .bind(&g.user_id)
                .bind(g.amount_credits)
                .bind(g.remaining_credits)
                .bind(&g.credit_type)
                .bind(&g.source_metadata)
                .bind(g.date_created)
                .bind(g.pooled_at)
                .bind(g.expires_at)
                .bind(g.closed_at)
                .bind(&g.closed_reason)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn close_grant(&mut self, id: &str, remaining: i64, closed_at: Option<i64>, reason: Option<&str>) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE grants SET remaining_credits = $1, closed_at = COALESCE($2, closed_at), closed_reason = COALESCE($3, closed_reason) WHERE id = $4 AND user_id = $5",
                )
                .bind(remaining)
                .bind(closed_at)
                .bind(reason)
                .bind(id)
                .bind(&self.user_id)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn insert_transaction(&mut self, t: &TransactionRow, allocations: &[Allocation]) -> StoreResult<()> {
                self.entries += 1;
                sqlx::query(&format!("INSERT INTO credit_transactions ({TXN_COLS}, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                    .bind(&t.id)
                    .bind(&t.user_id)
                    .bind(&t.transaction_type)
                    .bind(t.amount_credits)
                    .bind(t.balance_after_credits)
                    .bind(&t.grant_id)
                    .bind(&t.reference)
                    .bind(t.date_created)
                    .bind(&t.budget_id)
                    .bind(self.entries)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| StoreError::on_unique(e, "ledger entry"))?;
                for a in allocations {
                    sqlx::query("INSERT INTO ledger_allocations (transaction_id, grant_id, amount_credits) VALUES ($1, $2, $3)")
                        .bind(&t.id)
                        .bind(&a.grant_id)
                        .bind(a.amount_credits)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(())
            }

            async fn set_balance(&mut self, balance: i64, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE wallets SET balance_credits = $1, entry_count = $2, updated_at = $3 WHERE user_id = $4")
                    .bind(balance)
                    .bind(self.entries)
                    .bind(now)
                    .bind(&self.user_id)
                    .execute(&mut *self.tx)
                    .await?;
                self.balance = balance;
                Ok(())
            }

            async fn held_total(&mut self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(amount_credits), 0) AS BIGINT) FROM holds WHERE user_id = $1",
                )
                .bind(&self.user_id)
                .fetch_one(&mut *self.tx)
                .await?)
            }

            async fn budget_spend(&mut self, budget_id: &str, since: [i64; 4]) -> StoreResult<BudgetSpend> {
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(CASE WHEN date_created > $2 THEN -amount_credits ELSE 0 END), 0) AS BIGINT), \
                            CAST(COALESCE(SUM(CASE WHEN date_created > $3 THEN -amount_credits ELSE 0 END), 0) AS BIGINT), \
                            CAST(COALESCE(SUM(CASE WHEN date_created > $4 THEN -amount_credits ELSE 0 END), 0) AS BIGINT), \
                            CAST(COALESCE(SUM(CASE WHEN date_created > $5 THEN -amount_credits ELSE 0 END), 0) AS BIGINT), \
                            CAST(COALESCE(SUM(-amount_credits), 0) AS BIGINT) \
                     FROM credit_transactions WHERE budget_id = $1 AND transaction_type = 'purchase'",
                )
                .bind(budget_id)
                .bind(since[0])
                .bind(since[1])
                .bind(since[2])
                .bind(since[3])
                .fetch_one(&mut *self.tx)
                .await?;
                let held: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(amount_credits), 0) AS BIGINT) FROM holds WHERE budget_id = $1",
                )
                .bind(budget_id)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(BudgetSpend {
                    hour: row.try_get(0)?,
                    day: row.try_get(1)?,
                    week: row.try_get(2)?,
                    month: row.try_get(3)?,
                    total: row.try_get(4)?,
                    held,
                })
            }

            async fn hold(&mut self, id: &str) -> StoreResult<Option<HoldRow>> {
                Ok(sqlx::query_as(&format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1 AND user_id = $2"))
                    .bind(id)
                    .bind(&self.user_id)
                    .fetch_optional(&mut *self.tx)
                    .await?)
            }

            async fn insert_hold(&mut self, h: &HoldRow) -> StoreResult<()> {
                sqlx::query(&format!("INSERT INTO holds ({HOLD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(&h.id)
                    .bind(&h.user_id)
                    .bind(&h.budget_id)
                    .bind(h.amount_credits)
                    .bind(&h.reference)
                    .bind(h.created_at)
                    .bind(h.deadline)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn delete_hold(&mut self, id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM holds WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(&self.user_id)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn commit(self: Box<Self>) -> StoreResult<()> {
                self.tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_store;
