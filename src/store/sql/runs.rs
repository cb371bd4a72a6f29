//! Runs: the queue and its leases, step results, model calls, chat sessions.

use crate::clock::Timestamp;
use crate::id::{BudgetId, OrderId, UserId};
use crate::id::{RunId, WorkflowId};
use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::{Args, Conn, DbRow};
use crate::store::backend::{Backend, Dialect, RowsAffected};
use crate::store::cols::DELIVERY_COLS;
use crate::store::{DeliveryRow, RunFinish, RunRow, RunStepRow, RunStore, StoreError, StoreResult};

const RUN_COLS: &str = "id, workflow_id, user_id, budget_id, request_id, prompt, status, response_text, session_id, model, \
    error_code, error_message, callback_url, callback_status, callback_last_status, callback_last_error, \
    callback_attempted_at, callback_delivered_at, callback_attempts, request_metadata, run_metadata, created_at, \
    updated_at, started_at, completed_at, lease_owner, lease_expires_at, attempts, cancel_requested, workflow_version";

/// Binds a delivery's columns as `$1`..`$10`, in `DELIVERY_COLS` order.
fn delivery_query<'q, DB: Database>(
    sql: &'q str,
    d: &'q DeliveryRow,
) -> Query<'q, DB, DB::Arguments<'q>>
where
    String: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Timestamp: Encode<'q, DB> + Type<DB>,
    Option<Timestamp>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(sql)
        .bind(d.id)
        .bind(d.run_id)
        .bind(d.user_id)
        .bind(&d.url)
        .bind(d.status.as_str())
        .bind(d.attempts)
        .bind(d.next_attempt_at)
        .bind(d.lease_expires_at)
        .bind(d.created_at)
        .bind(d.updated_at)
}

fn insert_delivery_sql() -> String {
    format!("INSERT INTO deliveries ({DELIVERY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (run_id) DO NOTHING")
}

#[async_trait]
impl<S> RunStore for S
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
    for<'q> Option<OrderId>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> i64: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<i64>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Timestamp: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> Option<Timestamp>: Encode<'q, S::Db> + Type<S::Db>,
    for<'q> bool: Encode<'q, S::Db> + Type<S::Db>,
    for<'r> RunRow: FromRow<'r, DbRow<S>>,
    for<'r> RunStepRow: FromRow<'r, DbRow<S>>,
    for<'r> (i64,): FromRow<'r, DbRow<S>>,
    for<'r> (String,): FromRow<'r, DbRow<S>>,
{
    async fn insert_run(&self, r: &RunRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO runs ({RUN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
        ))
        .bind(r.id)
        .bind(r.workflow_id)
        .bind(r.user_id)
        .bind(r.budget_id)
        .bind(&r.request_id)
        .bind(&r.prompt)
        .bind(r.status.as_str())
        .bind(&r.response_text)
        .bind(&r.session_id)
        .bind(&r.model)
        .bind(&r.error_code)
        .bind(&r.error_message)
        .bind(&r.callback_url)
        .bind(r.callback_status.as_str())
        .bind(r.callback_last_status)
        .bind(&r.callback_last_error)
        .bind(r.callback_attempted_at)
        .bind(r.callback_delivered_at)
        .bind(r.callback_attempts)
        .bind(&r.request_metadata)
        .bind(&r.run_metadata)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.started_at)
        .bind(r.completed_at)
        .bind(&r.lease_owner)
        .bind(r.lease_expires_at)
        .bind(r.attempts)
        .bind(r.cancel_requested)
        .bind(r.workflow_version)
        .execute(self.writer())
        .await
        .map_err(|e| StoreError::on_unique(e, "request_id"))?;
        Ok(())
    }

    async fn run_by_id(&self, id: RunId) -> StoreResult<Option<RunRow>> {
        Ok(
            sqlx::query_as(&format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.writer())
                .await?,
        )
    }

    async fn run_by_request(
        &self,
        user_id: UserId,
        workflow_id: WorkflowId,
        request_id: &str,
    ) -> StoreResult<Option<RunRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE user_id = $1 AND workflow_id = $2 AND request_id = $3"
        ))
        .bind(user_id)
        .bind(workflow_id)
        .bind(request_id)
        .fetch_optional(self.writer())
        .await?)
    }

    async fn record_model_call(
        &self,
        id: &str,
        user_id: UserId,
        run_id: RunId,
        model: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO model_calls (id, user_id, run_id, model, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(user_id)
            .bind(run_id)
            .bind(model)
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn count_model_calls(&self, user_id: UserId, since: Timestamp) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM model_calls WHERE user_id = $1 AND created_at > $2",
        )
        .bind(user_id)
        .bind(since)
        .fetch_one(self.writer())
        .await?)
    }

    async fn count_queued_runs(&self, user_id: UserId) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM runs WHERE user_id = $1 AND status = 'queued'",
            )
            .bind(user_id)
            .fetch_one(self.writer())
            .await?,
        )
    }

    async fn claim_run(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: i64,
        max_running_per_user: i64,
    ) -> StoreResult<Option<RunRow>> {
        // A user's live runs: running under a lease that has not expired.
        const LIVE: &str = "(SELECT COUNT(*) FROM runs l WHERE l.user_id = r.user_id AND l.status = 'running' AND l.lease_expires_at >= $3)";
        let mut tx = self.begin_write().await?;
        if let Some(lock) = <S::Db as Dialect>::CLAIM_LOCK {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let claimed: Option<RunRow> = sqlx::query_as(&format!(
            "UPDATE runs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
             started_at = COALESCE(started_at, $3), attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT r.id FROM runs r \
                         WHERE (r.status = 'queued' OR (r.status = 'running' AND r.lease_expires_at < $3)) \
                           AND {LIVE} < $4 \
                         ORDER BY {LIVE}, r.created_at, r.id LIMIT 1{}) \
             RETURNING {RUN_COLS}",
            <S::Db as Dialect>::SKIP_LOCKED
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(max_running_per_user)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn extend_lease(
        &self,
        run_id: RunId,
        owner: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'")
            .bind(run_id)
            .bind(owner)
            .bind(until)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_run_progress(
        &self,
        run_id: RunId,
        owner: &str,
        run_metadata: &str,
        session_id: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE runs SET run_metadata = $3, session_id = COALESCE($4, session_id), updated_at = $5 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(run_id)
        .bind(owner)
        .bind(run_metadata)
        .bind(session_id)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn finish_run(&self, f: &RunFinish, delivery: Option<&DeliveryRow>) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE runs SET status = $3, response_text = $4, error_code = $5, error_message = $6, model = COALESCE($7, model), \
             session_id = COALESCE($8, session_id), run_metadata = $9, completed_at = $10, updated_at = $10, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(f.run_id)
        .bind(&f.lease_owner)
        .bind(f.status.as_str())
        .bind(&f.response_text)
        .bind(&f.error_code)
        .bind(&f.error_message)
        .bind(&f.model)
        .bind(&f.session_id)
        .bind(&f.run_metadata)
        .bind(f.now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(d) = delivery {
            delivery_query(&insert_delivery_sql(), d)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn cancel_run(
        &self,
        run_id: RunId,
        now: Timestamp,
        delivery: Option<&DeliveryRow>,
    ) -> StoreResult<Option<RunRow>> {
        let mut tx = self.begin_write().await?;
        let queued = sqlx::query(
            "UPDATE runs SET status = 'cancelled', cancel_requested = TRUE, completed_at = $2, updated_at = $2, \
             error_code = 'cancelled', error_message = 'The run was cancelled before it started.' \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(run_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if queued.rows_affected() == 1 {
            if let Some(d) = delivery {
                delivery_query(&insert_delivery_sql(), d)
                    .execute(&mut *tx)
                    .await?;
            }
        } else {
            sqlx::query("UPDATE runs SET cancel_requested = TRUE, updated_at = $2 WHERE id = $1 AND status = 'running'")
                .bind(run_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query_as(&format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"))
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn step_result(&self, run_id: RunId, step_key: &str) -> StoreResult<Option<RunStepRow>> {
        Ok(sqlx::query_as(
            "SELECT run_id, step_key, output, order_id, credits, started_at, completed_at FROM run_steps WHERE run_id = $1 AND step_key = $2",
        )
        .bind(run_id)
        .bind(step_key)
        .fetch_optional(self.writer())
        .await?)
    }

    async fn record_step(&self, s: &RunStepRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO run_steps (run_id, step_key, output, order_id, credits, started_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (run_id, step_key) DO NOTHING",
        )
        .bind(s.run_id)
        .bind(&s.step_key)
        .bind(&s.output)
        .bind(s.order_id)
        .bind(s.credits)
        .bind(s.started_at)
        .bind(s.completed_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn session_messages(
        &self,
        session_id: &str,
        user_id: UserId,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT message FROM chat_messages WHERE session_id = $1 AND user_id = $2 ORDER BY seq",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_all(self.writer())
        .await?)
    }

    async fn append_session_messages(
        &self,
        session_id: &str,
        user_id: UserId,
        messages: &[String],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let next: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM chat_messages WHERE session_id = $1",
        )
        .bind(session_id)
        .fetch_one(&mut *tx)
        .await?;
        for (i, m) in messages.iter().enumerate() {
            sqlx::query("INSERT INTO chat_messages (session_id, seq, user_id, message, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(session_id)
                .bind(next + 1 + i as i64)
                .bind(user_id)
                .bind(m)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
