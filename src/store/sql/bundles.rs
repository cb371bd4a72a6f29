//! Bundles.

use crate::id::{BundleId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::Backend;
use crate::store::{BundleRow, BundleStore, StoreResult};

const BUNDLE_COLS: &str =
    "id, owner_id, name, description, visibility, product_ids, workflow_ids, created_at, updated_at";

#[async_trait]
impl<S> BundleStore for S
where
    S: Backend,
    for<'c> &'c mut Conn<S>: Executor<'c, Database = S::Db>,
    for<'q> Args<'q, S>: IntoArguments<'q, S::Db>,
    for<'q> &'q str: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> String: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> BundleRow: FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
{
    async fn insert_bundle(&self, b: &BundleRow) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO bundles ({BUNDLE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(b.id)
            .bind(b.owner_id)
            .bind(&b.name)
            .bind(&b.description)
            .bind(b.visibility.as_str())
            .bind(&b.product_ids)
            .bind(&b.workflow_ids)
            .bind(b.created_at)
            .bind(b.updated_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn count_bundles_owned_by(&self, owner_id: UserId) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM bundles WHERE owner_id = $1")
                .bind(owner_id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    async fn update_bundle(&self, b: &BundleRow) -> StoreResult<()> {
        sqlx::query(
            "UPDATE bundles SET owner_id = $2, name = $3, description = $4, visibility = $5, product_ids = $6, \
             workflow_ids = $7, created_at = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(b.id)
        .bind(b.owner_id)
        .bind(&b.name)
        .bind(&b.description)
        .bind(b.visibility.as_str())
        .bind(&b.product_ids)
        .bind(&b.workflow_ids)
        .bind(b.created_at)
        .bind(b.updated_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn bundle_by_id(&self, id: BundleId) -> StoreResult<Option<BundleRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {BUNDLE_COLS} FROM bundles WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn bundles_visible_to(&self, user_id: UserId) -> StoreResult<Vec<BundleRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {BUNDLE_COLS} FROM bundles WHERE owner_id = $1 OR visibility = 'public' ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }
}
