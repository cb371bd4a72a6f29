//! Connection instances and their key-value memory.

use crate::clock::Timestamp;
use crate::id::{BudgetId, InstanceId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::{InstanceRow, InstanceStore, StoreResult};

#[async_trait]
impl<S> InstanceStore for S
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
    for<'q> InstanceId: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> InstanceRow: FromRow<'r, DbRow<S>>,
    for<'r> (InstanceId,): FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
    for<'r> (String, String): FromRow<'r, DbRow<S>>,
{
    async fn insert_instance(&self, i: &InstanceRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO instances (id, user_id, budget_id, metadata, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(i.id)
            .bind(i.user_id)
            .bind(i.budget_id)
            .bind(&i.metadata)
            .bind(i.created_at)
            .bind(i.last_seen_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn default_instance(&self, owner: &str, fresh: &InstanceRow) -> StoreResult<InstanceId> {
        // Several requests (or nodes) may make it at once: one insert wins.
        sqlx::query("INSERT INTO instances (id, user_id, budget_id, metadata, created_at, last_seen_at, default_for) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING")
            .bind(fresh.id)
            .bind(fresh.user_id)
            .bind(fresh.budget_id)
            .bind(&fresh.metadata)
            .bind(fresh.created_at)
            .bind(fresh.last_seen_at)
            .bind(owner)
            .execute(self.writer())
            .await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM instances WHERE default_for = $1")
                .bind(owner)
                .fetch_one(self.writer())
                .await?,
        )
    }

    async fn instance_by_id(&self, id: InstanceId) -> StoreResult<Option<InstanceRow>> {
        Ok(sqlx::query_as("SELECT id, user_id, budget_id, metadata, created_at, last_seen_at FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn touch_instance(
        &self,
        id: InstanceId,
        metadata: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE instances SET last_seen_at = $2, metadata = COALESCE($3, metadata) WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(metadata)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn memory_get(&self, instance_id: InstanceId, key: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM instance_memory WHERE instance_id = $1 AND key = $2",
        )
        .bind(instance_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn memory_set(
        &self,
        instance_id: InstanceId,
        key: &str,
        value: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO instance_memory (instance_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(instance_id)
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn memory_delete(&self, instance_id: InstanceId, key: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM instance_memory WHERE instance_id = $1 AND key = $2")
            .bind(instance_id)
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn memory_list(
        &self,
        instance_id: InstanceId,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT key, value FROM instance_memory WHERE instance_id = $1 ORDER BY key LIMIT $2",
        )
        .bind(instance_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn memory_count(&self, instance_id: InstanceId) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM instance_memory WHERE instance_id = $1")
                .bind(instance_id)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
