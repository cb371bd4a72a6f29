//! Triggering workflows and reading runs:
//! `POST /api/agent-webhooks/{workflowId}/trigger`,
//! `GET /api/agent-webhooks/runs/{runId}` and `POST .../runs/{runId}/cancel`.
//! Errors here use the spec's `{"success":false,"error","message"}` shape.

use super::openapi::schemas as oa;
use std::sync::Arc;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Caller;
use crate::catalog::Product;
use crate::clock::to_millis;
use crate::id::{new_id, ObjectId};
use crate::store::{ApprovalRow, RunRow, StoreError, WorkflowRow};
use crate::tools::outbound::is_public;
use crate::workflows::versions;
use crate::workflows::view::{run_json, run_summary};
use crate::workflows::worker::delivery_for;

/// Longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 32_000;

struct Trigger {
    prompt: String,
    request_id: Option<String>,
    callback_url: Option<String>,
    request_metadata: Map<String, Value>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn parse_trigger(bytes: &[u8]) -> ApiResult<Trigger> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad("invalid_json", format!("The body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(bad("invalid_payload", "The body must be a JSON object."));
    };
    let prompt = match obj.get("prompt") {
        None | Some(Value::Null) => {
            return Err(bad("missing_prompt", "Send a non-empty \"prompt\"."))
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(bad("missing_prompt", "Send a non-empty \"prompt\"."))
        }
        Some(Value::String(s)) if s.chars().count() > MAX_PROMPT_CHARS => {
            return Err(bad(
                "prompt_too_long",
                format!("The prompt is longer than {MAX_PROMPT_CHARS} characters."),
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("invalid_prompt", "\"prompt\" must be a string.")),
    };
    let request_id = match obj.get("request_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                "invalid_request_id",
                "\"request_id\" must be a string of 1 to 200 characters.",
            ))
        }
    };
    let callback_url = match obj.get("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 2048 => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                "invalid_callback_url",
                "\"callback_url\" must be an HTTPS URL.",
            ))
        }
    };
    let request_metadata = match obj.get("request_metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) if Value::Object(m.clone()).to_string().len() <= 16 * 1024 => {
            m.clone()
        }
        Some(Value::Object(_)) => {
            return Err(bad(
                "invalid_request_metadata",
                "\"request_metadata\" is larger than 16 KiB.",
            ))
        }
        Some(_) => {
            return Err(bad(
                "invalid_request_metadata",
                "\"request_metadata\" must be an object.",
            ))
        }
    };
    Ok(Trigger {
        prompt,
        request_id,
        callback_url,
        request_metadata,
    })
}

/// Checks what a callback URL says about itself: HTTPS (plain HTTP only for
/// a host the operator's allowlist names), no credentials, and no private,
/// loopback or link-local IP literal (or `localhost`) unless allowlisted.
/// Names are not resolved here: a host may not resolve yet, or resolve
/// elsewhere later. Delivery resolves it through the guarded resolver at
/// each attempt, refuses private answers, and retries when it does not
/// resolve.
pub fn check_callback_url(state: &AppState, raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed".into());
    }
    let allow = state.outbound.allowlist();
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

/// The tools a workflow calls.
fn workflow_tools(state: &AppState, w: &WorkflowRow) -> Vec<Arc<Product>> {
    let snapshot = state.catalog.snapshot();
    versions::tool_names(&snapshot, w)
        .iter()
        .filter_map(|n| snapshot.resolve(n).map(|(p, _)| p))
        .collect()
}

async fn open(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    subject: String,
    detail: Value,
) -> Result<String, StoreError> {
    state
        .store
        .open_approval(&ApprovalRow {
            id: new_id(),
            user_id: caller.user_id.clone(),
            budget_id: caller.budget_id.clone(),
            kind: kind.into(),
            subject_id: subject,
            detail: detail.to_string(),
            status: "open".into(),
            created_at: to_millis(state.clock.now()),
            resolved_at: None,
        })
        .await
}

/// The version of `w` the caller's budget runs. The workflow's owner runs
/// the newest; anyone else the version pinned on the budget, and while a
/// newer one exists, an approval request (one per version, and none for a
/// version its owner denied) asks the budget's owner to accept it.
async fn version_to_run(
    state: &AppState,
    caller: &Caller,
    w: &WorkflowRow,
    pinned: i64,
) -> ApiResult<WorkflowRow> {
    if w.owner_id == caller.user_id || pinned >= w.version {
        return Ok(w.clone());
    }
    let row = state
        .store
        .workflow_version(&w.id, pinned)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("workflow {} has no version {pinned}", w.id))
        })?;
    let pinned_w = versions::at_version(w, &row);
    // A version the budget's owner turned down is not asked about again; the
    // next version is.
    let subject = versions::update_subject(&w.id, w.version);
    if !state
        .store
        .approval_denied(&caller.budget_id, versions::UPDATE_KIND, &subject)
        .await?
    {
        let detail =
            versions::update_detail(&state.catalog.snapshot(), &pinned_w, w, &caller.budget_id);
        open(state, caller, versions::UPDATE_KIND, subject, detail).await?;
    }
    Ok(pinned_w)
}

/// The workflow as the caller's budget runs it (see [`version_to_run`]), or
/// what blocks the caller from running it, as the spec's 409.
async fn blockers(
    state: &AppState,
    caller: &Caller,
    w: &WorkflowRow,
) -> ApiResult<Result<WorkflowRow, ApiError>> {
    let enabled = state.store.budget_workflows(&caller.budget_id).await?;
    let add_workflow = json!({"workflow_id": w.id, "name": w.name, "description": w.description, "budget_id": caller.budget_id});
    let Some(pinned) = enabled.iter().find(|(id, _)| *id == w.id).map(|(_, v)| *v) else {
        let id = open(
            state,
            caller,
            "enable_workflow",
            w.id.clone(),
            add_workflow.clone(),
        )
        .await?;
        return Ok(Err(
            ApiError::conflict("workflow_not_on_budget", "This workflow is not enabled on your budget. An approval request was sent to the budget's owner.")
                .with_data(json!({"workflow_request_id": id, "credential_request_ids": [], "add_workflow": add_workflow, "missing_credentials": []})),
        ));
    };
    let w = &version_to_run(state, caller, w, pinned).await?;
    let tools = workflow_tools(state, w);
    let products = state.store.budget_product_ids(&caller.budget_id).await?;
    let mut product_requests = Vec::new();
    let mut missing_products = Vec::new();
    let mut credential_requests = Vec::new();
    let mut missing_credentials = Vec::new();
    for p in &tools {
        if !products.contains(&p.row.id) {
            let detail = json!({"product_id": p.row.id, "product_name": p.row.name, "display_name": p.row.display_name, "workflow_id": w.id});
            product_requests
                .push(open(state, caller, "enable_product", p.row.id.clone(), detail).await?);
            missing_products.push(json!({"product_id": p.row.id, "name": p.row.name}));
        }
        if p.credentials.is_empty() {
            continue;
        }
        let stored = state
            .store
            .credentials_for(&caller.user_id, &p.row.id)
            .await?;
        for c in &p.credentials {
            if !stored.iter().any(|s| s.name == c.name) {
                let detail = json!({"product_id": p.row.id, "product_name": p.row.name, "credential": c.name});
                credential_requests.push(
                    open(
                        state,
                        caller,
                        "credential",
                        format!("{}:{}", p.row.id, c.name),
                        detail,
                    )
                    .await?,
                );
                missing_credentials.push(json!({"product_id": p.row.id, "name": c.name, "location": c.location, "field": c.field}));
            }
        }
    }
    if !missing_credentials.is_empty() {
        return Ok(Err(
            ApiError::conflict("missing_credentials", "The workflow's tools need credentials you have not stored. Store them with PUT /credentials/{product_id}/{name}.")
                .with_data(json!({"workflow_request_id": null, "credential_request_ids": credential_requests, "add_workflow": null,
                                  "missing_credentials": missing_credentials, "product_request_ids": product_requests, "missing_products": missing_products})),
        ));
    }
    if !missing_products.is_empty() {
        return Ok(Err(
            ApiError::conflict("setup_required", "The workflow uses tools that are not enabled on your budget. Approval requests were sent to the budget's owner.")
                .with_data(json!({"workflow_request_id": null, "credential_request_ids": [], "add_workflow": null, "missing_credentials": [],
                                  "product_request_ids": product_requests, "missing_products": missing_products})),
        ));
    }
    Ok(Ok(w.clone()))
}

fn accepted(state: &AppState, run: &RunRow, status: StatusCode) -> (StatusCode, Json<Value>) {
    let status_url = format!(
        "{}/api/agent-webhooks/runs/{}",
        state.settings.public_url, run.id
    );
    (
        status,
        Json(
            json!({"success": true, "data": {"run": run_summary(run), "status_url": status_url}, "message": "Workflow trigger accepted"}),
        ),
    )
}

/// `POST /api/agent-webhooks/{workflowId}/trigger`.
#[utoipa::path(
    post,
    path = "/api/agent-webhooks/{workflow_id}/trigger",
    tag = "Trigger Autonomous Workflows Via Webhooks",
    operation_id = "agent_webhooks_trigger",
    summary = "Trigger a workflow run",
    description = "Queues a run of the workflow with the prompt. With `request_id`, a retry returns the existing run (202). With `callback_url`, the final run status is POSTed there, signed with the caller's webhook secret.",
    params(
        ("workflow_id" = String, Path, description = "The workflow's id (24 hex characters); `workflowId` in the spec."),
    ),
    request_body(content = oa::TriggerRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Run created or existing run returned by idempotency key.", body = oa::TriggerResponse),
        (status = 202, description = "Idempotent replay - the existing run matching `request_id` is returned.", body = oa::TriggerResponse),
        (status = 400, description = "Invalid workflow ID, invalid payload, or malformed request (`invalid_workflow_id`, `invalid_json`, `invalid_payload`, `missing_prompt`, `prompt_too_long`, `invalid_prompt`, `invalid_request_id`, `invalid_callback_url`, `invalid_request_metadata`).", body = oa::ErrorResponse),
        (status = 401, description = "Missing or invalid bearer token.", body = oa::ErrorResponse),
        (status = 404, description = "No workflow with this id is available to the caller (`workflow_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "Workflow is not enabled on the caller's budget and/or required credentials are missing. The response enumerates the approval request IDs created to clear the block. Or the `request_id` was used for a run outside the API key's budget (`request_id_in_use`).", body = oa::TriggerConflict),
        (status = 413, description = "The body is larger than this server accepts (`payload_too_large`).", body = oa::ErrorResponse),
        (status = 429, description = "The caller already has as many runs queued as the server allows (`too_many_queued_runs`, set with `--max-queued-runs-per-user`); retry once some have started.", body = oa::ErrorResponse),
        (status = 500, description = "Unexpected server error.", body = oa::ErrorResponse),
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, workflow_id = %workflow_id))]
pub async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(workflow_id): Path<String>,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !ObjectId::is_valid(&workflow_id) {
        return Err(bad(
            "invalid_workflow_id",
            "The workflow id must be a 24-character hex ObjectId.",
        ));
    }
    let bytes = Bytes::from_request(req, &state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::coded(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than this server accepts.",
            )
        } else {
            bad("invalid_payload", "The request body could not be read.")
        }
    })?;
    let t = parse_trigger(&bytes)?;
    if let Some(url) = &t.callback_url {
        check_callback_url(&state, url).map_err(|e| {
            bad(
                "invalid_callback_url",
                format!("The callback URL is not allowed: {e}."),
            )
        })?;
    }
    let not_found = || {
        ApiError::not_found(
            "workflow_not_found",
            "No workflow with this id is available to you.",
        )
    };
    let workflow = state
        .store
        .workflow_by_id(&workflow_id.to_ascii_lowercase())
        .await?
        .ok_or_else(not_found)?;
    if workflow.owner_id != caller.user_id && workflow.visibility != "public" {
        return Err(not_found());
    }
    if workflow.status != "active" {
        return Err(not_found());
    }
    if let Some(rid) = &t.request_id {
        if let Some(existing) = state
            .store
            .run_by_request(&caller.user_id, &workflow.id, rid)
            .await?
        {
            return replay(&state, &caller, &existing);
        }
    }
    let run_as = blockers(&state, &caller, &workflow).await??;
    let max_queued = state.settings.max_queued_runs_per_user;
    if state.store.count_queued_runs(&caller.user_id).await? >= max_queued {
        return Err(ApiError::coded(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_queued_runs",
            format!(
                "You already have {max_queued} runs waiting in the queue, the most this server allows. \
                 Wait for some to start or cancel them, then trigger again."
            ),
        ));
    }
    let now = to_millis(state.clock.now());
    let session_id = t
        .request_metadata
        .get("session_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let run = RunRow {
        id: new_id(),
        workflow_id: workflow.id.clone(),
        user_id: caller.user_id.clone(),
        budget_id: caller.budget_id.clone(),
        request_id: t.request_id.clone(),
        prompt: t.prompt,
        status: "queued".into(),
        response_text: None,
        session_id,
        model: None,
        error_code: None,
        error_message: None,
        callback_status: if t.callback_url.is_some() {
            "pending".into()
        } else {
            "skipped".into()
        },
        callback_url: t.callback_url,
        callback_last_status: None,
        callback_last_error: None,
        callback_attempted_at: None,
        callback_delivered_at: None,
        callback_attempts: 0,
        request_metadata: Value::Object(t.request_metadata).to_string(),
        run_metadata: json!({"workflow_version": run_as.version}).to_string(),
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        lease_owner: None,
        lease_expires_at: None,
        attempts: 0,
        cancel_requested: false,
        workflow_version: Some(run_as.version),
    };
    match state.store.insert_run(&run).await {
        Ok(()) => {
            state.run_queued.notify_waiters();
            Ok(accepted(&state, &run, StatusCode::OK))
        }
        Err(StoreError::Conflict(_)) => {
            // A concurrent trigger with the same request_id won the race.
            let rid = run.request_id.as_deref().unwrap_or_default();
            let existing = state
                .store
                .run_by_request(&caller.user_id, &workflow.id, rid)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("run vanished")))?;
            replay(&state, &caller, &existing)
        }
        Err(e) => Err(e.into()),
    }
}

/// The answer to a trigger whose `request_id` names an existing run: that
/// run again, unless it is another budget's and the caller an API key, which
/// must not learn of it.
fn replay(
    state: &AppState,
    caller: &Caller,
    existing: &RunRow,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !caller.sees_budget(&existing.budget_id) {
        return Err(ApiError::conflict(
            "request_id_in_use",
            "This request_id was already used for this workflow outside this API key's budget; send a new one.",
        ));
    }
    Ok(accepted(state, existing, StatusCode::ACCEPTED))
}

async fn own_run(state: &AppState, caller: &Caller, run_id: &str) -> ApiResult<RunRow> {
    if !ObjectId::is_valid(run_id) {
        return Err(bad(
            "invalid_run_id",
            "The run id must be a 24-character hex ObjectId.",
        ));
    }
    let run = state.store.run_by_id(&run_id.to_ascii_lowercase()).await?;
    match run {
        Some(r) if r.user_id == caller.user_id && caller.sees_budget(&r.budget_id) => Ok(r),
        // Another user's run, or another budget's for an API key, answers
        // exactly like a missing one.
        _ => Err(ApiError::not_found(
            "run_not_found",
            "No run with this id belongs to you.",
        )),
    }
}

/// `GET /api/agent-webhooks/runs/{runId}`.
#[utoipa::path(
    get,
    path = "/api/agent-webhooks/runs/{run_id}",
    tag = "Trigger Autonomous Workflows Via Webhooks",
    operation_id = "agent_webhooks_get_run",
    summary = "Get workflow run status",
    params(
        ("run_id" = String, Path, description = "The run's id (24 hex characters)."),
    ),
    responses(
        (status = 200, description = "Current status and payload of the workflow run.", body = oa::RunResponse),
        (status = 400, description = "Invalid run ID.", body = oa::ErrorResponse),
        (status = 401, description = "Missing or invalid bearer token.", body = oa::ErrorResponse),
        (status = 404, description = "Run not found for the caller.", body = oa::ErrorResponse),
        (status = 500, description = "Unexpected server error.", body = oa::ErrorResponse),
    ),
    security(("bearer" = [])),
)]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(run_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let run = own_run(&state, &caller, &run_id).await?;
    Ok(Json(
        json!({"success": true, "data": {"run": run_json(&run)}}),
    ))
}

/// `POST /api/agent-webhooks/runs/{runId}/cancel`: a queued run is cancelled
/// at once; a running one stops at its next step.
#[utoipa::path(
    post,
    path = "/api/agent-webhooks/runs/{run_id}/cancel",
    tag = "Trigger Autonomous Workflows Via Webhooks",
    operation_id = "agent_webhooks_cancel_run",
    summary = "Cancel a workflow run",
    description = "A queued run is cancelled at once; a running one stops at its next step.",
    params(
        ("run_id" = String, Path, description = "The run's id (24 hex characters)."),
    ),
    responses(
        (status = 200, description = "The run after the cancellation.", body = oa::RunCancelResponse),
        (status = 400, description = "Invalid run ID (`invalid_run_id`).", body = oa::ErrorResponse),
        super::openapi::Unauthorized,
        (status = 404, description = "Run not found for the caller (`run_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "The run already ended (`run_finished`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(run_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let run = own_run(&state, &caller, &run_id).await?;
    if !matches!(run.status.as_str(), "queued" | "running") {
        return Err(ApiError::conflict(
            "run_finished",
            format!("The run already ended ({}).", run.status),
        ));
    }
    let now = to_millis(state.clock.now());
    let run = state
        .store
        .cancel_run(&run.id, now, delivery_for(&run, now).as_ref())
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("run vanished")))?;
    Ok(Json(
        json!({"success": true, "data": {"run": run_json(&run)}, "message": if run.status == "cancelled" { "Run cancelled" } else { "Cancellation requested; the run stops at its next step" }}),
    ))
}
