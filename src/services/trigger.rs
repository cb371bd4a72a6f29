//! Triggering a workflow run, and reading or cancelling one
//! (`POST /api/agent-webhooks/{workflowId}/trigger` and the runs under it).
//!
//! A trigger checks the callback URL, finds the workflow, replays the run a
//! `request_id` already made, picks the version the caller's budget runs,
//! opens approval requests for whatever blocks the run (the workflow, its
//! tools, their credentials), bounds the caller's queue, and queues the run.

use crate::clock::Timestamp;
use crate::id::{ApprovalId, RunId, WorkflowId};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::approvals::{self, ApprovalKind, NewApproval};
use crate::app::AppInner;
use crate::auth::Caller;
use crate::catalog::Product;
use crate::purchase::{credential_request, missing_credential};
use crate::store::{
    CallbackStatus, RunRow, RunStatus, StoreError, Visibility, WorkflowRow, WorkflowStatus,
};
use crate::tools::outbound::is_public;
use crate::workflows::versions;
use crate::workflows::worker::delivery_for;

/// A trigger, as the caller sent it.
#[derive(Debug, Clone)]
pub struct TriggerRequest {
    pub prompt: String,
    /// Makes the trigger idempotent per caller and workflow.
    pub request_id: Option<String>,
    /// Where the run's final status is POSTed.
    pub callback_url: Option<String>,
    pub request_metadata: Map<String, Value>,
}

impl From<tollgate_api::TriggerRequest> for TriggerRequest {
    fn from(body: tollgate_api::TriggerRequest) -> Self {
        TriggerRequest {
            prompt: body.prompt,
            request_id: body.request_id,
            callback_url: body.callback_url,
            request_metadata: body.request_metadata.unwrap_or_default(),
        }
    }
}

/// The run a trigger answers with.
#[derive(Debug, Clone)]
pub enum Triggered {
    /// A new run, queued.
    Queued(RunRow),
    /// The run an earlier trigger with the same `request_id` made.
    Existing(RunRow),
}

impl Triggered {
    pub fn run(&self) -> &RunRow {
        match self {
            Triggered::Queued(run) | Triggered::Existing(run) => run,
        }
    }
}

/// Why a trigger queued no run.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The callback URL may not be called.
    #[error("the callback URL is not allowed: {0}")]
    CallbackUrl(String),
    /// No workflow with the id is active and visible to the caller.
    #[error("no such workflow")]
    WorkflowNotFound,
    /// The `request_id` made a run outside the API key's budget.
    #[error("the request_id was used outside this API key's budget")]
    RequestIdInUse,
    /// The workflow is not enabled on the budget; its owner was asked.
    #[error("the workflow is not enabled on the budget")]
    NotOnBudget {
        workflow_request_id: String,
        add_workflow: Value,
    },
    /// The workflow's tools need credentials the caller has not stored.
    #[error("credentials are missing")]
    MissingCredentials {
        credential_request_ids: Vec<ApprovalId>,
        missing_credentials: Vec<Value>,
        product_request_ids: Vec<ApprovalId>,
        missing_products: Vec<Value>,
    },
    /// The workflow's tools are not enabled on the budget; its owner was asked.
    #[error("the workflow's tools are not enabled on the budget")]
    SetupRequired {
        product_request_ids: Vec<ApprovalId>,
        missing_products: Vec<Value>,
    },
    /// The caller has `max` runs queued already.
    #[error("at most {max} queued runs")]
    TooManyQueuedRuns { max: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// Why a run cannot be read or cancelled.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No run with the id is the caller's (or, for an API key, its budget's).
    #[error("no such run")]
    NotFound,
    /// The run ended already, with `status`.
    #[error("the run already ended ({status})")]
    Finished { status: RunStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues a run of workflow `workflow_id` for `caller`.
pub async fn trigger(
    app: &AppInner,
    caller: &Caller,
    workflow_id: WorkflowId,
    t: TriggerRequest,
) -> Result<Triggered, TriggerError> {
    if let Some(url) = &t.callback_url {
        check_callback_url(app, url).map_err(TriggerError::CallbackUrl)?;
    }
    let workflow = app
        .store
        .workflow_by_id(workflow_id)
        .await?
        .ok_or(TriggerError::WorkflowNotFound)?;
    if workflow.owner_id != caller.user_id && workflow.visibility != Visibility::Public {
        return Err(TriggerError::WorkflowNotFound);
    }
    if workflow.status != WorkflowStatus::Active {
        return Err(TriggerError::WorkflowNotFound);
    }
    if let Some(rid) = &t.request_id {
        if let Some(existing) = app
            .store
            .run_by_request(caller.user_id, workflow.id, rid)
            .await?
        {
            return replay(caller, existing);
        }
    }
    let run_as = runnable(app, caller, &workflow).await?;
    let max_queued = app.settings.max_queued_runs_per_user;
    if app.store.count_queued_runs(caller.user_id).await? >= max_queued {
        return Err(TriggerError::TooManyQueuedRuns { max: max_queued });
    }
    let run = new_run(app, caller, &run_as, t);
    match app.store.insert_run(&run).await {
        Ok(()) => {
            app.run_queued.notify_waiters();
            Ok(Triggered::Queued(run))
        }
        Err(StoreError::Conflict(_)) => {
            // A concurrent trigger with the same request_id won the race.
            let rid = run.request_id.as_deref().unwrap_or_default();
            let existing = app
                .store
                .run_by_request(caller.user_id, workflow.id, rid)
                .await?
                .ok_or_else(|| TriggerError::Internal(anyhow::anyhow!("run vanished")))?;
            replay(caller, existing)
        }
        Err(e) => Err(e.into()),
    }
}

/// The caller's run `run_id`.
pub async fn get_run(app: &AppInner, caller: &Caller, run_id: RunId) -> Result<RunRow, RunError> {
    let run = app.store.run_by_id(run_id).await?;
    match run {
        Some(r) if r.user_id == caller.user_id && caller.sees_budget(r.budget_id) => Ok(r),
        // Another user's run, or another budget's for an API key, answers
        // exactly like a missing one.
        _ => Err(RunError::NotFound),
    }
}

/// Cancels the caller's run `run_id`: a queued run at once, a running one
/// at its next step. Returns the run after the cancellation.
pub async fn cancel_run(
    app: &AppInner,
    caller: &Caller,
    run_id: RunId,
) -> Result<RunRow, RunError> {
    let run = get_run(app, caller, run_id).await?;
    if run.status.is_finished() {
        return Err(RunError::Finished { status: run.status });
    }
    let now = Timestamp::from(app.clock.now());
    app.store
        .cancel_run(run.id, now, delivery_for(&run, now.millis()).as_ref())
        .await?
        .ok_or(RunError::Store(StoreError::NotFound))
}

/// Checks what a callback URL says about itself: HTTPS (plain HTTP only for
/// a host the operator's allowlist names), no credentials, and no private,
/// loopback or link-local IP literal (or `localhost`) unless allowlisted.
/// Names are not resolved here: a host may not resolve yet, or resolve
/// elsewhere later. Delivery resolves it through the guarded resolver at
/// each attempt, refuses private answers, and retries when it does not
/// resolve.
pub fn check_callback_url(app: &AppInner, raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed".into());
    }
    let allow = app.outbound.allowlist();
    let (host, literal) = match url.host() {
        Some(url::Host::Domain(d)) => (d.trim_end_matches('.').to_ascii_lowercase(), None),
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), Some(std::net::IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), Some(std::net::IpAddr::V6(ip))),
        None => return Err("the URL has no host".into()),
    };
    let allowlisted = allow.allows_host(&host) || literal.is_some_and(|ip| allow.allows_ip(ip));
    if allowlisted {
        return if matches!(url.scheme(), "http" | "https") {
            Ok(())
        } else {
            Err("only http(s) URLs are allowed".into())
        };
    }
    if url.scheme() != "https" {
        return Err("the callback URL must use https".into());
    }
    let private_name = host == "localhost" || host.ends_with(".localhost");
    if private_name || literal.is_some_and(|ip| !is_public(ip)) {
        return Err(
            "the callback URL must not point at a private, loopback or link-local address".into(),
        );
    }
    Ok(())
}

/// The answer to a trigger whose `request_id` names an existing run: that
/// run again, unless it is another budget's and the caller an API key, which
/// must not learn of it.
fn replay(caller: &Caller, existing: RunRow) -> Result<Triggered, TriggerError> {
    if !caller.sees_budget(existing.budget_id) {
        return Err(TriggerError::RequestIdInUse);
    }
    Ok(Triggered::Existing(existing))
}

/// The tools a workflow calls.
fn workflow_tools(app: &AppInner, w: &WorkflowRow) -> Vec<Arc<Product>> {
    let snapshot = app.catalog.snapshot();
    versions::tool_names(&snapshot, w)
        .iter()
        .filter_map(|n| snapshot.resolve(n).map(|(p, _)| p))
        .collect()
}

/// The version of `w` the caller's budget runs. The workflow's owner runs
/// the newest; anyone else the version pinned on the budget, and while a
/// newer one exists, an approval request (one per version, and none for a
/// version its owner denied) asks the budget's owner to accept it.
async fn version_to_run(
    app: &AppInner,
    caller: &Caller,
    w: &WorkflowRow,
    pinned: i64,
) -> Result<WorkflowRow, TriggerError> {
    if w.owner_id == caller.user_id || pinned >= w.version {
        return Ok(w.clone());
    }
    let row = app
        .store
        .workflow_version(w.id, pinned)
        .await?
        .ok_or_else(|| {
            TriggerError::Internal(anyhow::anyhow!("workflow {} has no version {pinned}", w.id))
        })?;
    let pinned_w = versions::at_version(w, &row);
    // A version the budget's owner turned down is not asked about again; the
    // next version is.
    let subject = versions::update_subject(w.id, w.version);
    let kind = ApprovalKind::WorkflowUpdate;
    if !app
        .store
        .approval_denied(caller.budget_id, kind, &subject)
        .await?
    {
        let detail =
            versions::update_detail(&app.catalog.snapshot(), &pinned_w, w, caller.budget_id);
        approvals::open(app, NewApproval::by(caller, kind, subject, detail)).await?;
    }
    Ok(pinned_w)
}

/// The workflow as the caller's budget runs it (see [`version_to_run`]), or
/// what blocks the caller from running it.
async fn runnable(
    app: &AppInner,
    caller: &Caller,
    w: &WorkflowRow,
) -> Result<WorkflowRow, TriggerError> {
    let enabled = app.store.budget_workflows(caller.budget_id).await?;
    let Some(pinned) = enabled.iter().find(|(id, _)| *id == w.id).map(|(_, v)| *v) else {
        let add_workflow = json!({"workflow_id": w.id, "name": w.name, "description": w.description, "budget_id": caller.budget_id});
        let request = NewApproval::by(
            caller,
            ApprovalKind::EnableWorkflow,
            w.id.to_string(),
            add_workflow.clone(),
        );
        return Err(TriggerError::NotOnBudget {
            workflow_request_id: approvals::open(app, request).await?.to_string(),
            add_workflow,
        });
    };
    let w = version_to_run(app, caller, w, pinned).await?;
    let products = app.store.budget_product_ids(caller.budget_id).await?;
    let mut product_request_ids = Vec::new();
    let mut missing_products = Vec::new();
    let mut credential_request_ids = Vec::new();
    let mut missing_credentials = Vec::new();
    for p in &workflow_tools(app, &w) {
        if !products.contains(&p.row.id) {
            let detail = json!({"product_id": p.row.id, "product_name": p.row.name, "display_name": p.row.display_name, "workflow_id": w.id});
            let request = NewApproval::by(
                caller,
                ApprovalKind::EnableProduct,
                p.row.id.to_string(),
                detail,
            );
            product_request_ids.push(approvals::open(app, request).await?);
            missing_products.push(json!({"product_id": p.row.id, "name": p.row.name}));
        }
        if p.credentials.is_empty() {
            continue;
        }
        let stored = app.store.credentials_for(caller.user_id, p.row.id).await?;
        for c in &p.credentials {
            if !stored.iter().any(|s| s.name == c.name) {
                let request = credential_request(caller, p, c);
                credential_request_ids.push(approvals::open(app, request).await?);
                missing_credentials.push(missing_credential(p, c));
            }
        }
    }
    if !missing_credentials.is_empty() {
        return Err(TriggerError::MissingCredentials {
            credential_request_ids,
            missing_credentials,
            product_request_ids,
            missing_products,
        });
    }
    if !missing_products.is_empty() {
        return Err(TriggerError::SetupRequired {
            product_request_ids,
            missing_products,
        });
    }
    Ok(w)
}

/// A queued run of `w` as triggered by `t`.
fn new_run(app: &AppInner, caller: &Caller, w: &WorkflowRow, t: TriggerRequest) -> RunRow {
    let now = Timestamp::from(app.clock.now());
    let session_id = t
        .request_metadata
        .get("session_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    RunRow {
        id: RunId::new(),
        workflow_id: w.id,
        user_id: caller.user_id,
        budget_id: caller.budget_id,
        request_id: t.request_id,
        prompt: t.prompt,
        status: RunStatus::Queued,
        response_text: None,
        session_id,
        model: None,
        error_code: None,
        error_message: None,
        callback_status: if t.callback_url.is_some() {
            CallbackStatus::Pending
        } else {
            CallbackStatus::Skipped
        },
        callback_url: t.callback_url,
        callback_last_status: None,
        callback_last_error: None,
        callback_attempted_at: None,
        callback_delivered_at: None,
        callback_attempts: 0,
        request_metadata: Value::Object(t.request_metadata).to_string(),
        run_metadata: json!({"workflow_version": w.version}).to_string(),
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        lease_owner: None,
        lease_expires_at: None,
        attempts: 0,
        cancel_requested: false,
        workflow_version: Some(w.version),
    }
}
