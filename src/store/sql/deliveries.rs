//! Callback deliveries and the webhook secrets that sign them.

use crate::clock::Timestamp;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, Dialect};
use crate::store::cols::DELIVERY_COLS;
use crate::store::{DeliveryAttempt, DeliveryRow, DeliveryStore, StoreResult};

#[async_trait]
impl<S> DeliveryStore for S
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
    for<'r> DeliveryRow: FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
    for<'r> (i64, i64): FromRow<'r, DbRow<S>>,
{
    async fn webhook_secret(&self, user_id: UserId) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT secret_sealed FROM webhook_secrets WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.writer())
                .await?,
        )
    }

    async fn insert_webhook_secret(
        &self,
        user_id: UserId,
        sealed: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_secrets (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn set_webhook_secret(
        &self,
        user_id: UserId,
        sealed: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_secrets (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn queue_depths(&self) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM runs WHERE status = 'queued'), (SELECT COUNT(*) FROM deliveries WHERE status = 'pending')",
        )
        .fetch_one(self.pool())
        .await?)
    }

    async fn claim_delivery(
        &self,
        now: Timestamp,
        lease_until: i64,
    ) -> StoreResult<Option<DeliveryRow>> {
        Ok(sqlx::query_as(&format!(
            "UPDATE deliveries SET lease_expires_at = $2 \
             WHERE id = (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
                         AND (lease_expires_at IS NULL OR lease_expires_at < $1) ORDER BY next_attempt_at, id LIMIT 1{}) \
             RETURNING {DELIVERY_COLS}",
            <S::Db as Dialect>::SKIP_LOCKED
        ))
        .bind(now)
        .bind(lease_until)
        .fetch_optional(self.writer())
        .await?)
    }

    async fn record_delivery_attempt(&self, a: &DeliveryAttempt) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE deliveries SET status = $2, attempts = $3, next_attempt_at = $4, lease_expires_at = NULL, updated_at = $5 WHERE id = $1",
        )
        .bind(a.delivery_id)
        .bind(a.status.as_str())
        .bind(a.attempts)
        .bind(a.next_attempt_at)
        .bind(a.attempted_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE runs SET callback_status = $2, callback_attempts = $3, callback_last_status = $4, callback_last_error = $5, \
             callback_attempted_at = $6, callback_delivered_at = CASE WHEN $2 = 'delivered' THEN $6 ELSE callback_delivered_at END \
             WHERE id = $1",
        )
        .bind(a.run_id)
        .bind(a.status.as_str())
        .bind(a.attempts)
        .bind(a.http_status)
        .bind(&a.error)
        .bind(a.attempted_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
