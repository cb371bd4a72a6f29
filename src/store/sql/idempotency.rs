//! Idempotency keys of purchase requests.

use crate::clock::Timestamp;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::{IdempotencyClaim, IdempotencyRow, IdempotencyStore, StoreResult};

#[async_trait]
impl<S> IdempotencyStore for S
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
    for<'r> IdempotencyRow: FromRow<'r, DbRow<S>>,
{
    async fn claim_idempotency_key(
        &self,
        user_id: UserId,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        stale_before: i64,
    ) -> StoreResult<IdempotencyClaim> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, status, created_at) VALUES ($1, $2, $3, 'in_progress', $4) \
             ON CONFLICT (user_id, key) DO NOTHING",
        )
        .bind(user_id)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(self.writer())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        // Take over a claim whose request died, atomically.
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET created_at = $4 WHERE user_id = $1 AND key = $2 AND request_hash = $3 \
             AND status = 'in_progress' AND created_at < $5",
        )
        .bind(user_id)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .bind(stale_before)
        .execute(self.writer())
        .await?;
        if taken.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row: IdempotencyRow = sqlx::query_as(
            "SELECT user_id, key, request_hash, status, response_status, response_body, created_at FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_one(self.pool())
        .await?;
        Ok(IdempotencyClaim::Existing(row))
    }

    async fn finish_idempotency_key(
        &self,
        user_id: UserId,
        key: &str,
        status: i64,
        body: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE idempotency_keys SET status = 'done', response_status = $3, response_body = $4 WHERE user_id = $1 AND key = $2")
            .bind(user_id)
            .bind(key)
            .bind(status)
            .bind(body)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn release_idempotency_key(&self, user_id: UserId, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status = 'in_progress'")
            .bind(user_id)
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
