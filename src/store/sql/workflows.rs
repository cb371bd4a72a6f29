//! Workflows, their versions, and the budgets that enable them.

use crate::clock::Timestamp;
use crate::id::WorkflowId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, RowsAffected};
use crate::store::{StoreResult, WorkflowRow, WorkflowStore, WorkflowVersionRow};

const WF_COLS: &str = "id, owner_id, name, description, visibility, engine, definition, status, created_at, updated_at, version";

/// Binds a workflow's columns as `$1`..`$11`, in `WF_COLS` order.
fn wf_query<'q, DB: Database>(sql: &'q str, w: &'q WorkflowRow) -> Query<'q, DB, DB::Arguments<'q>>
where
    String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(sql)
        .bind(w.id)
        .bind(w.owner_id)
        .bind(&w.name)
        .bind(&w.description)
        .bind(w.visibility.as_str())
        .bind(w.engine.as_str())
        .bind(&w.definition)
        .bind(w.status.as_str())
        .bind(w.created_at)
        .bind(w.updated_at)
        .bind(w.version)
}

/// Records the workflow's current version.
fn version_query<'q, DB: Database>(w: &'q WorkflowRow) -> Query<'q, DB, DB::Arguments<'q>>
where
    String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO workflow_versions (workflow_id, version, engine, definition, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(w.id)
    .bind(w.version)
    .bind(w.engine.as_str())
    .bind(&w.definition)
    .bind(w.updated_at)
}

#[async_trait]
impl<S> WorkflowStore for S
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
    for<'r> WorkflowRow: FromRow<'r, DbRow<S>>,
    for<'r> WorkflowVersionRow: FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
    for<'r> (String, i64): FromRow<'r, DbRow<S>>,
{
    async fn insert_workflow(&self, w: &WorkflowRow) -> StoreResult<()> {
        let sql = format!("INSERT INTO workflows ({WF_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
        let mut tx = self.begin_write().await?;
        wf_query(&sql, w).execute(&mut *tx).await?;
        version_query(w).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn count_workflows_owned_by(&self, owner_id: UserId) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM workflows WHERE owner_id = $1")
                .bind(owner_id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    async fn update_workflow(&self, w: &WorkflowRow, read_version: i64) -> StoreResult<bool> {
        let sql = "UPDATE workflows SET owner_id = $2, name = $3, description = $4, visibility = $5, engine = $6, \
                   definition = $7, status = $8, created_at = $9, updated_at = $10, version = $11 WHERE id = $1 AND version = $12";
        let mut tx = self.begin_write().await?;
        let done = wf_query(sql, w)
            .bind(read_version)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if w.version != read_version {
            version_query(w).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn workflow_by_id(&self, id: WorkflowId) -> StoreResult<Option<WorkflowRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {WF_COLS} FROM workflows WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn workflow_version(
        &self,
        workflow_id: WorkflowId,
        version: i64,
    ) -> StoreResult<Option<WorkflowVersionRow>> {
        Ok(sqlx::query_as(
            "SELECT workflow_id, version, engine, definition, created_at FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
        )
        .bind(workflow_id)
        .bind(version)
        .fetch_optional(self.writer())
        .await?)
    }

    async fn workflows_visible_to(&self, user_id: UserId) -> StoreResult<Vec<WorkflowRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {WF_COLS} FROM workflows WHERE owner_id = $1 OR visibility = 'public' ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    async fn enable_workflow(
        &self,
        budget_id: BudgetId,
        workflow_id: WorkflowId,
        version: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO budget_workflows (budget_id, workflow_id, created_at, pinned_version) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (budget_id, workflow_id) DO UPDATE SET pinned_version = excluded.pinned_version",
        )
        .bind(budget_id)
        .bind(workflow_id)
        .bind(now)
        .bind(version)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn pin_workflow_version(
        &self,
        budget_id: BudgetId,
        workflow_id: WorkflowId,
        version: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE budget_workflows SET pinned_version = $3 WHERE budget_id = $1 AND workflow_id = $2 AND pinned_version < $3",
        )
        .bind(budget_id)
        .bind(workflow_id)
        .bind(version)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_workflow(
        &self,
        budget_id: BudgetId,
        workflow_id: WorkflowId,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM budget_workflows WHERE budget_id = $1 AND workflow_id = $2")
                .bind(budget_id)
                .bind(workflow_id)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn budget_workflows(&self, budget_id: BudgetId) -> StoreResult<Vec<(WorkflowId, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT workflow_id, pinned_version FROM budget_workflows WHERE budget_id = $1",
        )
        .bind(budget_id)
        .fetch_all(self.writer())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, v)| Some((WorkflowId::parse(&id)?, v)))
            .collect())
    }
}
