//! The workflow SQL both backends share; see `common.rs`. A backend supplies
//! `SKIP_LOCKED`: how a queue claim skips rows other nodes are claiming, and
//! `CLAIM_LOCK`: what makes run claims take turns, where they are not already
//! serialised by a single writer.

macro_rules! impl_workflow_store {
    ($store:ident) => {
        mod workflow_impl {
            use async_trait::async_trait;

            use super::$store;
            use crate::store::{
                DeliveryAttempt, DeliveryRow, RunFinish, RunRow, RunStepRow, StoreError, StoreResult, WorkflowRow,
                WorkflowStore, WorkflowVersionRow,
            };

            const WF_COLS: &str = "id, owner_id, name, description, visibility, engine, definition, status, created_at, updated_at, version";
            const RUN_COLS: &str = "id, workflow_id, user_id, budget_id, request_id, prompt, status, response_text, session_id, model, \
                error_code, error_message, callback_url, callback_status, callback_last_status, callback_last_error, \
                callback_attempted_at, callback_delivered_at, callback_attempts, request_metadata, run_metadata, created_at, \
                updated_at, started_at, completed_at, lease_owner, lease_expires_at, attempts, cancel_requested, workflow_version";
            const DELIVERY_COLS: &str = "id, run_id, user_id, url, status, attempts, next_attempt_at, lease_expires_at, created_at, updated_at";

            fn wf_query<'q>(sql: &'q str, w: &'q WorkflowRow) -> sqlx::query::Query<'q, <$store as super::HasDb>::Db, <<$store as super::HasDb>::Db as sqlx::Database>::Arguments<'q>> {
                sqlx::query(sql)
                    .bind(&w.id)
                    .bind(&w.owner_id)
                    .bind(&w.name)
                    .bind(&w.description)
                    .bind(&w.visibility)
                    .bind(&w.engine)
                    .bind(&w.definition)
                    .bind(&w.status)
                    .bind(w.created_at)
                    .bind(w.updated_at)
                    .bind(w.version)
            }

            fn version_query<'q>(w: &'q WorkflowRow) -> sqlx::query::Query<'q, <$store as super::HasDb>::Db, <<$store as super::HasDb>::Db as sqlx::Database>::Arguments<'q>> {
                sqlx::query(
                    "INSERT INTO workflow_versions (workflow_id, version, engine, definition, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&w.id)
                .bind(w.version)
                .bind(&w.engine)
                .bind(&w.definition)
                .bind(w.updated_at)
            }

            fn delivery_query<'q>(sql: &'q str, d: &'q DeliveryRow) -> sqlx::query::Query<'q, <$store as super::HasDb>::Db, <<$store as super::HasDb>::Db as sqlx::Database>::Arguments<'q>> {
                sqlx::query(sql)
                    .bind(&d.id)
                    .bind(&d.run_id)
                    .bind(&d.user_id)
                    .bind(&d.url)
                    .bind(&d.status)
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
            impl WorkflowStore for $store {
                async fn insert_workflow(&self, w: &WorkflowRow) -> StoreResult<()> {
                    let sql = format!("INSERT INTO workflows ({WF_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
                    let mut tx = self.begin_write().await?;
                    wf_query(&sql, w).execute(&mut *tx).await?;
                    version_query(w).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn count_workflows_owned_by(&self, owner_id: &str) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM workflows WHERE owner_id = $1").bind(owner_id).fetch_one(&self.pool).await?)
                }

                async fn update_workflow(&self, w: &WorkflowRow, read_version: i64) -> StoreResult<bool> {
                    let sql = "UPDATE workflows SET owner_id = $2, name = $3, description = $4, visibility = $5, engine = $6, \
                               definition = $7, status = $8, created_at = $9, updated_at = $10, version = $11 WHERE id = $1 AND version = $12";
                    let mut tx = self.begin_write().await?;
                    let done = wf_query(sql, w).bind(read_version).execute(&mut *tx).await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    if w.version != read_version {
                        version_query(w).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn workflow_by_id(&self, id: &str) -> StoreResult<Option<WorkflowRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {WF_COLS} FROM workflows WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?)
                }

                async fn workflow_version(&self, workflow_id: &str, version: i64) -> StoreResult<Option<WorkflowVersionRow>> {
                    Ok(sqlx::query_as(
                        "SELECT workflow_id, version, engine, definition, created_at FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
                    )
                    .bind(workflow_id)
                    .bind(version)
                    .fetch_optional(&self.writer)
                    .await?)
                }

                async fn workflows_visible_to(&self, user_id: &str) -> StoreResult<Vec<WorkflowRow>> {
                    Ok(sqlx::query_as(&format!(
                        "SELECT {WF_COLS} FROM workflows WHERE owner_id = $1 OR visibility = 'public' ORDER BY created_at, id"
                    ))
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn enable_workflow(&self, budget_id: &str, workflow_id: &str, version: i64, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO budget_workflows (budget_id, workflow_id, created_at, pinned_version) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (budget_id, workflow_id) DO UPDATE SET pinned_version = excluded.pinned_version",
                    )
                    .bind(budget_id)
                    .bind(workflow_id)
                    .bind(now)
                    .bind(version)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn pin_workflow_version(&self, budget_id: &str, workflow_id: &str, version: i64) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE budget_workflows SET pinned_version = $3 WHERE budget_id = $1 AND workflow_id = $2 AND pinned_version < $3",
                    )
                    .bind(budget_id)
                    .bind(workflow_id)
                    .bind(version)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn disable_workflow(&self, budget_id: &str, workflow_id: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM budget_workflows WHERE budget_id = $1 AND workflow_id = $2")
                        .bind(budget_id)
                        .bind(workflow_id)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn budget_workflows(&self, budget_id: &str) -> StoreResult<Vec<(String, i64)>> {
                    Ok(sqlx::query_as("SELECT workflow_id, pinned_version FROM budget_workflows WHERE budget_id = $1")
                        .bind(budget_id)
                        .fetch_all(&self.writer)
                        .await?)
                }

                async fn insert_run(&self, r: &RunRow) -> StoreResult<()> {
                    sqlx::query(&format!(
                        "INSERT INTO runs ({RUN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                         $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
                    ))
                    .bind(&r.id)
                    .bind(&r.workflow_id)
                    .bind(&r.user_id)
                    .bind(&r.budget_id)
                    .bind(&r.request_id)
                    .bind(&r.prompt)
                    .bind(&r.status)
                    .bind(&r.response_text)
                    .bind(&r.session_id)
                    .bind(&r.model)
                    .bind(&r.error_code)
                    .bind(&r.error_message)
                    .bind(&r.callback_url)
                    .bind(&r.callback_status)
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
                    .execute(&self.writer)
                    .await
                    .map_err(|e| StoreError::on_unique(e, "request_id"))?;
                    Ok(())
                }

                async fn run_by_id(&self, id: &str) -> StoreResult<Option<RunRow>> {
                    Ok(sqlx::query_as(&format!("SELECT {RUN_COLS} FROM runs WHERE id = $1")).bind(id).fetch_optional(&self.writer).await?)
                }

                async fn run_by_request(&self, user_id: &str, workflow_id: &str, request_id: &str) -> StoreResult<Option<RunRow>> {
                    Ok(sqlx::query_as(&format!(
                        "SELECT {RUN_COLS} FROM runs WHERE user_id = $1 AND workflow_id = $2 AND request_id = $3"
                    ))
                    .bind(user_id)
                    .bind(workflow_id)
                    .bind(request_id)
                    .fetch_optional(&self.writer)
                    .await?)
                }

                async fn record_model_call(&self, id: &str, user_id: &str, run_id: &str, model: &str, now: i64) -> StoreResult<()> {
                    sqlx::query("INSERT INTO model_calls (id, user_id, run_id, model, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(id)
                        .bind(user_id)
                        .bind(run_id)
                        .bind(model)
                        .bind(now)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn count_model_calls(&self, user_id: &str, since: i64) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM model_calls WHERE user_id = $1 AND created_at > $2")
                        .bind(user_id)
                        .bind(since)
                        .fetch_one(&self.writer)
                        .await?)
                }

                async fn count_queued_runs(&self, user_id: &str) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE user_id = $1 AND status = 'queued'")
                        .bind(user_id)
                        .fetch_one(&self.writer)
                        .await?)
                }

                async fn claim_run(&self, owner: &str, now: i64, lease_until: i64, max_running_per_user: i64) -> StoreResult<Option<RunRow>> {
                    // A user's live runs: running under a lease that has not expired.
                    const LIVE: &str = "(SELECT COUNT(*) FROM runs l WHERE l.user_id = r.user_id AND l.status = 'running' AND l.lease_expires_at >= $3)";
                    let mut tx = self.begin_write().await?;
                    if let Some(lock) = $store::CLAIM_LOCK {
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
                        $store::SKIP_LOCKED
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

                async fn extend_lease(&self, run_id: &str, owner: &str, until: i64) -> StoreResult<bool> {
                    let done = sqlx::query("UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'")
                        .bind(run_id)
                        .bind(owner)
                        .bind(until)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn save_run_progress(&self, run_id: &str, owner: &str, run_metadata: &str, session_id: Option<&str>, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE runs SET run_metadata = $3, session_id = COALESCE($4, session_id), updated_at = $5 \
                         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
                    )
                    .bind(run_id)
                    .bind(owner)
                    .bind(run_metadata)
                    .bind(session_id)
                    .bind(now)
                    .execute(&self.writer)
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
                    .bind(&f.run_id)
                    .bind(&f.lease_owner)
                    .bind(&f.status)
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
                        delivery_query(&insert_delivery_sql(), d).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn cancel_run(&self, run_id: &str, now: i64, delivery: Option<&DeliveryRow>) -> StoreResult<Option<RunRow>> {
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
                            delivery_query(&insert_delivery_sql(), d).execute(&mut *tx).await?;
                        }
                    } else {
                        sqlx::query("UPDATE runs SET cancel_requested = TRUE, updated_at = $2 WHERE id = $1 AND status = 'running'")
                            .bind(run_id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let row = sqlx::query_as(&format!("SELECT {RUN_COLS} FROM runs WHERE id = $1")).bind(run_id).fetch_optional(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(row)
                }

                async fn step_result(&self, run_id: &str, step_key: &str) -> StoreResult<Option<RunStepRow>> {
                    Ok(sqlx::query_as(
                        "SELECT run_id, step_key, output, order_id, credits, started_at, completed_at FROM run_steps WHERE run_id = $1 AND step_key = $2",
                    )
                    .bind(run_id)
                    .bind(step_key)
                    .fetch_optional(&self.writer)
                    .await?)
                }

                async fn record_step(&self, s: &RunStepRow) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO run_steps (run_id, step_key, output, order_id, credits, started_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (run_id, step_key) DO NOTHING",
                    )
                    .bind(&s.run_id)
                    .bind(&s.step_key)
                    .bind(&s.output)
                    .bind(&s.order_id)
                    .bind(s.credits)
                    .bind(s.started_at)
                    .bind(s.completed_at)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn session_messages(&self, session_id: &str, user_id: &str) -> StoreResult<Vec<String>> {
                    Ok(sqlx::query_scalar("SELECT message FROM chat_messages WHERE session_id = $1 AND user_id = $2 ORDER BY seq")
                        .bind(session_id)
                        .bind(user_id)
                        .fetch_all(&self.writer)
                        .await?)
                }

                async fn append_session_messages(&self, session_id: &str, user_id: &str, messages: &[String], now: i64) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let next: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM chat_messages WHERE session_id = $1")
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

                async fn webhook_secret(&self, user_id: &str) -> StoreResult<Option<String>> {
                    Ok(sqlx::query_scalar("SELECT secret_sealed FROM webhook_secrets WHERE user_id = $1")
                        .bind(user_id)
                        .fetch_optional(&self.writer)
                        .await?)
                }

                async fn insert_webhook_secret(&self, user_id: &str, sealed: &str, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO webhook_secrets (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(sealed)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn set_webhook_secret(&self, user_id: &str, sealed: &str, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO webhook_secrets (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at",
                    )
                    .bind(user_id)
                    .bind(sealed)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn queue_depths(&self) -> StoreResult<(i64, i64)> {
                    Ok(sqlx::query_as(
                        "SELECT (SELECT COUNT(*) FROM runs WHERE status = 'queued'), (SELECT COUNT(*) FROM deliveries WHERE status = 'pending')",
                    )
                    .fetch_one(&self.pool)
                    .await?)
                }

                async fn claim_delivery(&self, now: i64, lease_until: i64) -> StoreResult<Option<DeliveryRow>> {
                    Ok(sqlx::query_as(&format!(
                        "UPDATE deliveries SET lease_expires_at = $2 \
                         WHERE id = (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
                                     AND (lease_expires_at IS NULL OR lease_expires_at < $1) ORDER BY next_attempt_at, id LIMIT 1{}) \
                         RETURNING {DELIVERY_COLS}",
                        $store::SKIP_LOCKED
                    ))
                    .bind(now)
                    .bind(lease_until)
                    .fetch_optional(&self.writer)
                    .await?)
                }

                async fn record_delivery_attempt(&self, a: &DeliveryAttempt) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "UPDATE deliveries SET status = $2, attempts = $3, next_attempt_at = $4, lease_expires_at = NULL, updated_at = $5 WHERE id = $1",
                    )
                    .bind(&a.delivery_id)
                    .bind(&a.status)
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
                    .bind(&a.run_id)
                    .bind(&a.status)
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
        }
    };
}

pub(crate) use impl_workflow_store;
