//! Approval requests: what blocked agents ask their owner for.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::error::ApiResult;
use crate::app::AppState;
use crate::auth::Caller;
use crate::services::approvals;
use crate::store::ApprovalRow;

fn approval_view(a: ApprovalRow) -> oa::Approval {
    oa::Approval {
        id: a.id.to_string(),
        budget_id: a.budget_id.to_string(),
        kind: a.kind.as_str().into(),
        subject_id: a.subject_id,
        detail: serde_json::from_str(&a.detail).unwrap_or(Value::Null),
        status: a.status.as_str().into(),
        created_at: a.created_at.iso(),
        resolved_at: a.resolved_at.map(|t| t.iso()),
    }
}

fn approval_response(a: ApprovalRow) -> Json<oa::ApprovalResponse> {
    Json(oa::ApprovalResponse {
        success: true,
        data: approval_view(a),
    })
}

/// `GET /approvals`: the owner's requests, newest first.
#[utoipa::path(
    get,
    path = "/approvals",
    tag = "Approvals",
    operation_id = "approvals_list",
    summary = "List approval requests",
    description = "The caller's approval requests, newest first: with an access token every budget's, with an API key only its budget's.",
    responses(
        (status = 200, description = "The requests.", body = oa::ApprovalListResponse),
        super::openapi::Unauthorized,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::ApprovalListResponse>> {
    let rows = approvals::list(&state, &caller).await?;
    Ok(Json(oa::ApprovalListResponse {
        success: true,
        data: oa::ApprovalList {
            approvals: rows.into_iter().map(approval_view).collect(),
        },
    }))
}

/// `POST /approvals/{id}/approve`: does what was asked (enabling a tool or a
/// workflow on the budget, or accepting a workflow's newer version) and
/// closes the request.
#[utoipa::path(
    post,
    path = "/approvals/{approval_id}/approve",
    tag = "Approvals",
    operation_id = "approvals_approve",
    summary = "Approve a request",
    description = "Does what was asked (enabling a tool or a workflow on the budget, or moving the budget's pinned workflow version forward to the version a `workflow_update` request names) and closes the request.",
    params(
        ("approval_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The approval request's id."),
    ),
    responses(
        (status = 200, description = "The resolved request.", body = oa::ApprovalResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No approval request with this id belongs to the caller, or to the API key's budget (`approval_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "The request was already resolved (`approval_closed`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<oa::ApprovalResponse>> {
    let a = approvals::approve(&state, &caller, &id).await?;
    Ok(approval_response(a))
}

/// `POST /approvals/{id}/deny`.
#[utoipa::path(
    post,
    path = "/approvals/{approval_id}/deny",
    tag = "Approvals",
    operation_id = "approvals_deny",
    summary = "Deny a request",
    params(
        ("approval_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The approval request's id."),
    ),
    responses(
        (status = 200, description = "The resolved request.", body = oa::ApprovalResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No approval request with this id belongs to the caller, or to the API key's budget (`approval_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "The request was already resolved (`approval_closed`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<oa::ApprovalResponse>> {
    let a = approvals::deny(&state, &caller, &id).await?;
    Ok(approval_response(a))
}
