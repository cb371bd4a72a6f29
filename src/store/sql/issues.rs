//! Issue reports about tools.

use crate::clock::Timestamp;
use crate::id::{BudgetId, ProductId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::Backend;
use crate::store::{IssueRow, IssueStatus, IssueStore, StoreResult};

const ISSUE_COLS: &str = "id, user_id, product_id, product_ref, product_name, lookup_method, error_message, recommended_improvements, instance_id, status, created_at, updated_at";

#[async_trait]
impl<S> IssueStore for S
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
    for<'q> Option<crate::id::InstanceId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> BudgetId: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<BudgetId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<ProductId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Timestamp: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Timestamp>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> bool: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> IssueRow: FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
{
    async fn insert_issue(&self, i: &IssueRow) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO issue_reports ({ISSUE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(i.id)
            .bind(i.user_id)
            .bind(i.product_id)
            .bind(&i.product_ref)
            .bind(&i.product_name)
            .bind(&i.lookup_method)
            .bind(&i.error_message)
            .bind(&i.recommended_improvements)
            .bind(i.instance_id)
            .bind(i.status.as_str())
            .bind(i.created_at)
            .bind(i.updated_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn issues_by_user_since(&self, user_id: UserId, since: Timestamp) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM issue_reports WHERE user_id = $1 AND created_at > $2",
        )
        .bind(user_id)
        .bind(since)
        .fetch_one(self.pool())
        .await?)
    }

    async fn issues_for_vendor(
        &self,
        vendor_id: Option<UserId>,
        limit: i64,
    ) -> StoreResult<Vec<IssueRow>> {
        let cols = ISSUE_COLS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(sqlx::query_as(&format!(
            "SELECT {cols} FROM issue_reports i JOIN products p ON p.id = i.product_id \
             WHERE ($1 IS NULL OR p.vendor_id = $1) ORDER BY i.created_at DESC, i.id DESC LIMIT $2"
        ))
        .bind(vendor_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    async fn issue_by_id(&self, id: &str) -> StoreResult<Option<IssueRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ISSUE_COLS} FROM issue_reports WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn update_issue_status(
        &self,
        id: &str,
        status: IssueStatus,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE issue_reports SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
