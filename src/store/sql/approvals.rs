//! Approval requests.

use crate::clock::Timestamp;
use crate::id::{ApprovalId, BudgetId, UserId};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::{ApprovalKind, ApprovalRow, ApprovalStatus, ApprovalStore, StoreResult};

const APPROVAL_COLS: &str =
    "id, user_id, budget_id, kind, subject_id, detail, status, created_at, resolved_at";

#[async_trait]
impl<S> ApprovalStore for S
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
    for<'r> ApprovalRow: FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
{
    async fn open_approval(&self, a: &ApprovalRow) -> StoreResult<ApprovalId> {
        sqlx::query(&format!(
            "INSERT INTO approval_requests ({APPROVAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (budget_id, kind, subject_id) WHERE status = 'open' DO NOTHING"
        ))
        .bind(a.id)
        .bind(a.user_id)
        .bind(a.budget_id)
        .bind(a.kind.as_str())
        .bind(&a.subject_id)
        .bind(&a.detail)
        .bind(a.status.as_str())
        .bind(a.created_at)
        .bind(a.resolved_at)
        .execute(self.writer())
        .await?;
        let id: String = sqlx::query_scalar("SELECT id FROM approval_requests WHERE budget_id = $1 AND kind = $2 AND subject_id = $3 AND status = 'open'")
            .bind(a.budget_id)
            .bind(a.kind.as_str())
            .bind(&a.subject_id)
            .fetch_one(self.pool())
            .await?;
        Ok(id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?)
    }

    async fn approvals_for_user(
        &self,
        user_id: UserId,
        budget_id: Option<BudgetId>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRow>> {
        let rows = match budget_id {
            None => sqlx::query_as(&format!("SELECT {APPROVAL_COLS} FROM approval_requests WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
                .bind(user_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
            Some(budget_id) => sqlx::query_as(&format!("SELECT {APPROVAL_COLS} FROM approval_requests WHERE user_id = $1 AND budget_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"))
                .bind(user_id)
                .bind(budget_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
        };
        Ok(rows)
    }

    async fn approval_by_id(&self, id: &str) -> StoreResult<Option<ApprovalRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {APPROVAL_COLS} FROM approval_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn approval_denied(
        &self,
        budget_id: BudgetId,
        kind: ApprovalKind,
        subject_id: &str,
    ) -> StoreResult<bool> {
        let denied: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approval_requests WHERE budget_id = $1 AND kind = $2 AND subject_id = $3 AND status = 'denied'",
        )
        .bind(budget_id)
        .bind(kind.as_str())
        .bind(subject_id)
        .fetch_one(self.pool())
        .await?;
        Ok(denied > 0)
    }

    async fn resolve_approval(
        &self,
        id: &str,
        status: ApprovalStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE approval_requests SET status = $2, resolved_at = $3 WHERE id = $1 AND status = 'open'")
            .bind(id)
            .bind(status.as_str())
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn resolve_approvals_for(
        &self,
        user_id: UserId,
        kind: ApprovalKind,
        subject_id: &str,
        status: ApprovalStatus,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE approval_requests SET status = $4, resolved_at = $5 WHERE user_id = $1 AND kind = $2 AND subject_id = $3 AND status = 'open'",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .bind(subject_id)
        .bind(status.as_str())
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }
}
