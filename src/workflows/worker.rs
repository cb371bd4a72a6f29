//! Workers: claim a queued run under a lease, keep the lease alive while the
//! engine runs it, and finish it (queueing its callback in the same
//! transaction). A run whose worker died is claimed again once its lease
//! expires; finished steps are replayed from `run_steps`, not repeated.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::engine::{Engine, EngineOutcome, RunCtx};
use super::graph::GraphEngine;
use super::llm::LlmEngine;
use crate::app::AppState;
use crate::clock::{to_millis, Timestamp};
use crate::id::new_id;
use crate::id::InstanceId;
use crate::store::{
    DeliveryRow, DeliveryStatus, InstanceRow, RunFinish, RunRow, RunStatus, WorkflowEngine,
};

/// The engine for a workflow's `engine` field.
fn engine_for(engine: WorkflowEngine) -> Box<dyn Engine> {
    match engine {
        WorkflowEngine::Graph => Box::new(GraphEngine),
        WorkflowEngine::Llm => Box::new(LlmEngine),
    }
}

/// The callback delivery for a finished run, if it has a callback URL.
pub fn delivery_for(run: &RunRow, now: i64) -> Option<DeliveryRow> {
    run.callback_url.as_ref().map(|url| DeliveryRow {
        id: crate::id::DeliveryId::new(),
        run_id: run.id,
        user_id: run.user_id,
        url: url.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Timestamp::from_millis(now),
        lease_expires_at: None,
        created_at: Timestamp::from_millis(now),
        updated_at: Timestamp::from_millis(now),
    })
}

/// Claims and executes one run; false when the queue had none.
pub async fn run_once(app: &AppState, owner: &str) -> anyhow::Result<bool> {
    let lease = app.settings.run_lease;
    let now = Timestamp::from(app.clock.now());
    let Some(run) = app
        .store
        .claim_run(
            owner,
            now,
            now.millis() + lease.as_millis() as i64,
            app.settings.max_running_runs_per_user,
        )
        .await?
    else {
        return Ok(false);
    };
    let span = tracing::info_span!("run", run_id = %run.id, workflow_id = %run.workflow_id, attempt = run.attempts);
    let _guard = span.enter();
    tracing::info!("run claimed");
    execute(app, owner, run).await?;
    Ok(true)
}

async fn execute(app: &AppState, owner: &str, run: RunRow) -> anyhow::Result<()> {
    let workflow = match app.store.workflow_by_id(run.workflow_id).await? {
        // The run executes the version chosen when it was triggered.
        Some(w) => match run.workflow_version {
            Some(v) if v != w.version => app
                .store
                .workflow_version(w.id, v)
                .await?
                .map(|row| super::versions::at_version(&w, &row)),
            _ => Some(w),
        },
        None => None,
    };
    // The run's tool calls share one connection instance, named after the run.
    if app
        .store
        .instance_by_id(InstanceId::from(run.id))
        .await?
        .is_none()
    {
        let now = Timestamp::from(app.clock.now());
        app.store
            .insert_instance(&InstanceRow {
                id: InstanceId::from(run.id),
                user_id: run.user_id,
                budget_id: run.budget_id,
                metadata: json!({"run_id": run.id}).to_string(),
                created_at: now,
                last_seen_at: now,
            })
            .await?;
    }
    let outcome_and_ctx = match &workflow {
        None => (
            EngineOutcome::Failed {
                code: "workflow_not_found".into(),
                message: "the workflow no longer exists".into(),
            },
            None,
        ),
        Some(w) => {
            let ctx = RunCtx::new(app.clone(), run.clone(), w.clone(), owner.to_string());
            let outcome = if run.cancel_requested {
                EngineOutcome::Cancelled
            } else {
                let heartbeat = tokio::spawn(keep_lease(app.clone(), ctx.clone()));
                let outcome = engine_for(w.engine).run(&ctx).await;
                heartbeat.abort();
                outcome
            };
            (outcome, Some(ctx))
        }
    };
    let (outcome, ctx) = outcome_and_ctx;
    let now = Timestamp::from(app.clock.now());
    let metadata = ctx
        .as_ref()
        .map(|c| c.metadata())
        .unwrap_or_else(|| json!({}));
    let mut finish = RunFinish {
        run_id: run.id,
        lease_owner: owner.to_string(),
        // Each outcome below sets it.
        status: RunStatus::Failed,
        response_text: None,
        error_code: None,
        error_message: None,
        model: None,
        session_id: None,
        run_metadata: metadata.to_string(),
        now,
    };
    match outcome {
        EngineOutcome::Succeeded {
            response_text: Some(text),
            ..
        } if text.len() > app.settings.run_state_limit_bytes => {
            let e = super::engine::state_too_large(
                "the response text",
                app.settings.run_state_limit_bytes,
            );
            finish.status = RunStatus::Failed;
            finish.error_code = Some(e.code);
            finish.error_message = Some(e.message);
        }
        EngineOutcome::Succeeded {
            response_text,
            model,
            session_id,
        } => {
            finish.status = RunStatus::Succeeded;
            finish.response_text = response_text;
            finish.model = model;
            finish.session_id = session_id;
        }
        EngineOutcome::Failed { code, message } => {
            finish.status = RunStatus::Failed;
            finish.error_code = Some(code);
            finish.error_message = Some(message);
        }
        EngineOutcome::Cancelled => {
            finish.status = RunStatus::Cancelled;
            finish.error_code = Some("cancelled".into());
            finish.error_message = Some("The run was cancelled.".into());
        }
    }
    let delivery = delivery_for(&run, now.millis());
    if app.store.finish_run(&finish, delivery.as_ref()).await? {
        crate::telemetry::run_finished(finish.status.as_str());
        tracing::info!(status = %finish.status, "run finished");
    } else {
        tracing::warn!("the run's lease was lost before it finished; another worker owns it");
    }
    Ok(())
}

/// Extends the lease at a third of its length until aborted; when the lease
/// is lost (another worker took the run), tells the engine to stop.
async fn keep_lease(app: AppState, ctx: Arc<RunCtx>) {
    let (run_id, owner) = (ctx.run.id, ctx.lease_owner.clone());
    let lease = app.settings.run_lease;
    let every = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let until = to_millis(app.clock.now()) + lease.as_millis() as i64;
        match app
            .store
            .extend_lease(run_id, &owner, Timestamp::from_millis(until))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(run_id = %run_id, "the run's lease was lost; stopping at the next step");
                ctx.mark_lease_lost();
                return;
            }
            Err(e) => tracing::warn!(error = %e, "extending a run lease failed; will retry"),
        }
    }
}

/// One worker: runs queued runs until `shutdown` turns true.
pub async fn run(app: AppState, owner: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match run_once(&app, &owner).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "running a workflow run failed; will retry"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = app.run_queued.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A worker name unique to this process and slot.
pub fn worker_name(slot: usize) -> String {
    static NODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    format!("{}-{slot}", NODE.get_or_init(new_id))
}

/// Starts `n` workers.
pub fn spawn(
    app: &AppState,
    n: usize,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|i| tokio::spawn(run(Arc::clone(app), worker_name(i), shutdown.clone())))
        .collect()
}
