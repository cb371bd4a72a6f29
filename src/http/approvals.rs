//! Approval requests: what blocked agents ask their owner for.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::{from_millis, iso, to_millis};
use crate::store::ApprovalRow;
use crate::workflows::versions;

fn approval_json(a: &ApprovalRow) -> Value {
    json!({
        "id": a.id, "budget_id": a.budget_id, "kind": a.kind, "subject_id": a.subject_id,
        "detail": serde_json::from_str::<Value>(&a.detail).unwrap_or(Value::Null),
        "status": a.status, "created_at": iso(from_millis(a.created_at)),
        "resolved_at": a.resolved_at.map(|t| iso(from_millis(t))),
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
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let rows = state
        .store
        .approvals_for_user(&caller.user_id, caller.key_budget(), 200)
        .await?;
    Ok(Json(
        json!({"success": true, "data": {"approvals": rows.iter().map(approval_json).collect::<Vec<_>>()}}),
    ))
}

/// The open request `id` of the caller's, for its owner to resolve. Another
/// budget's request does not exist for an API key; its own budget's it may
/// see but not resolve, since agents must not approve their own requests.
async fn own_open(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApprovalRow> {
    let not_found = || {
        ApiError::not_found(
            "approval_not_found",
            "No approval request with this id belongs to you.",
        )
    };
    let a = state
        .store
        .approval_by_id(id)
        .await?
        .ok_or_else(not_found)?;
    if a.user_id != caller.user_id || !caller.sees_budget(&a.budget_id) {
        return Err(not_found());
    }
    if caller.api_key_id.is_some() {
        return Err(ApiError::forbidden(
            "user_token_required",
            "Approve requests with an access token from POST /auth/login.",
        ));
    }
    if a.status != "open" {
        return Err(ApiError::conflict(
            "approval_closed",
            "This request was already resolved.",
        ));
    }
    Ok(a)
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
        ("approval_id" = String, Path, description = "The approval request's id."),
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
) -> ApiResult<Json<Value>> {
    let a = own_open(&state, &caller, &id).await?;
    let now = to_millis(state.clock.now());
    match a.kind.as_str() {
        // Approving agrees to the product's prices of now.
        "enable_product" | "price_increase" => {
            let prices = state
                .catalog
                .snapshot()
                .by_id(&a.subject_id)
                .map(|p| p.prices_json())
                .ok_or_else(|| {
                    ApiError::not_found("product_not_found", "The tool no longer exists.")
                })?;
            state
                .store
                .enable_product(&a.budget_id, &a.subject_id, &prices, now)
                .await?;
            state
                .caches
                .invalidate(crate::cache::kind::BUDGET, &a.budget_id);
        }
        "enable_workflow" => {
            // Enabling pins the version current now.
            if let Some(w) = state.store.workflow_by_id(&a.subject_id).await? {
                state
                    .store
                    .enable_workflow(&a.budget_id, &w.id, w.version, now)
                    .await?
            }
        }
        versions::UPDATE_KIND => {
            // Moves the pin forward to the version the request named, never back.
            if let Some((workflow_id, version)) = versions::parse_update_subject(&a.subject_id) {
                state
                    .store
                    .pin_workflow_version(&a.budget_id, workflow_id, version)
                    .await?;
            }
        }
        _ => {}
    }
    state.store.resolve_approval(&a.id, "approved", now).await?;
    let a = state
        .store
        .approval_by_id(&a.id)
        .await?
        .expect("just resolved");
    Ok(Json(json!({"success": true, "data": approval_json(&a)})))
}

/// `POST /approvals/{id}/deny`.
#[utoipa::path(
    post,
    path = "/approvals/{approval_id}/deny",
    tag = "Approvals",
    operation_id = "approvals_deny",
    summary = "Deny a request",
    params(
        ("approval_id" = String, Path, description = "The approval request's id."),
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
) -> ApiResult<Json<Value>> {
    let a = own_open(&state, &caller, &id).await?;
    state
        .store
        .resolve_approval(&a.id, "denied", to_millis(state.clock.now()))
        .await?;
    let a = state
        .store
        .approval_by_id(&a.id)
        .await?
        .expect("just resolved");
    Ok(Json(json!({"success": true, "data": approval_json(&a)})))
}
