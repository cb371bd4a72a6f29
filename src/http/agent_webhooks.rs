//! Triggering workflows and reading runs:
//! `POST /api/agent-webhooks/{workflowId}/trigger`,
//! `GET /api/agent-webhooks/runs/{runId}` and `POST .../runs/{runId}/cancel`.
//! Errors here use the spec's `{"success":false,"error","message"}` shape.

use super::openapi::schemas as oa;
use crate::id::{RunId, WorkflowId};

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Caller;
use crate::services::trigger::{self, Triggered};
use crate::store::{RunRow, RunStatus};
use crate::workflows::view::{run_summary, run_view};

/// Longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 32_000;

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// The trigger body as [`oa::TriggerRequest`], refused in the spec's
/// `{success, error, message}` shape (not FastAPI's 422) with the codes the
/// spec's webhook endpoints use.
fn parse_trigger(bytes: &[u8]) -> ApiResult<oa::TriggerRequest> {
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
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => {
            Some(s.clone())
        }
        Some(_) => {
            return Err(bad(
                "invalid_request_id",
                "\"request_id\" must be a string of 1 to 200 characters.",
            ))
        }
    };
    let callback_url = match obj.get("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 2048 => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                "invalid_callback_url",
                "\"callback_url\" must be an HTTPS URL.",
            ))
        }
    };
    let request_metadata = match obj.get("request_metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if Value::Object(m.clone()).to_string().len() <= 16 * 1024 => {
            Some(m.clone())
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
    Ok(oa::TriggerRequest {
        prompt,
        request_id,
        callback_url,
        request_metadata,
    })
}

fn accepted(
    state: &AppState,
    run: &RunRow,
    status: StatusCode,
) -> (StatusCode, Json<oa::TriggerResponse>) {
    let status_url = format!(
        "{}/api/agent-webhooks/runs/{}",
        state.settings.public_url, run.id
    );
    let body = oa::TriggerResponse {
        success: true,
        data: oa::TriggerData {
            run: run_summary(run),
            status_url,
        },
        message: "Workflow trigger accepted".into(),
    };
    (status, Json(body))
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
        ("workflow_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The workflow's id (24 hex characters); `workflowId` in the spec."),
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
) -> ApiResult<(StatusCode, Json<oa::TriggerResponse>)> {
    let Some(workflow_id) = WorkflowId::parse(&workflow_id) else {
        return Err(bad(
            "invalid_workflow_id",
            "The workflow id must be a 24-character hex ObjectId.",
        ));
    };
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
    Ok(
        match trigger::trigger(&state, &caller, workflow_id, t.into()).await? {
            Triggered::Queued(run) => accepted(&state, &run, StatusCode::OK),
            Triggered::Existing(run) => accepted(&state, &run, StatusCode::ACCEPTED),
        },
    )
}

/// A run id from the path, which must look like one.
fn valid_run_id(raw: &str) -> ApiResult<RunId> {
    RunId::parse(raw).ok_or_else(|| {
        bad(
            "invalid_run_id",
            "The run id must be a 24-character hex ObjectId.",
        )
    })
}

/// `GET /api/agent-webhooks/runs/{runId}`.
#[utoipa::path(
    get,
    path = "/api/agent-webhooks/runs/{run_id}",
    tag = "Trigger Autonomous Workflows Via Webhooks",
    operation_id = "agent_webhooks_get_run",
    summary = "Get workflow run status",
    params(
        ("run_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The run's id (24 hex characters)."),
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
) -> ApiResult<Json<oa::RunResponse>> {
    let run = trigger::get_run(&state, &caller, valid_run_id(&run_id)?).await?;
    Ok(Json(oa::RunResponse {
        success: true,
        data: oa::RunData {
            run: run_view(&run),
        },
    }))
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
        ("run_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The run's id (24 hex characters)."),
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
) -> ApiResult<Json<oa::RunCancelResponse>> {
    let run = trigger::cancel_run(&state, &caller, valid_run_id(&run_id)?).await?;
    let message = if run.status == RunStatus::Cancelled {
        "Run cancelled"
    } else {
        "Cancellation requested; the run stops at its next step"
    };
    Ok(Json(oa::RunCancelResponse {
        success: true,
        data: oa::RunData {
            run: run_view(&run),
        },
        message: message.into(),
    }))
}
