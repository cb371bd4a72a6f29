//! Approval requests: what blocked agents ask their owner for.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Caller;
use crate::clock::{from_millis, iso, to_millis};
use crate::store::ApprovalRow;

fn approval_json(a: &ApprovalRow) -> Value {
    json!({
        "id": a.id, "budget_id": a.budget_id, "kind": a.kind, "subject_id": a.subject_id,
        "detail": serde_json::from_str::<Value>(&a.detail).unwrap_or(Value::Null),
        "status": a.status, "created_at": iso(from_millis(a.created_at)),
        "resolved_at": a.resolved_at.map(|t| iso(from_millis(t))),
    })
}

/// `GET /approvals`: the owner's requests, newest first.
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let rows = state.store.approvals_for_user(&caller.user_id, 200).await?;
    Ok(Json(
        json!({"success": true, "data": {"approvals": rows.iter().map(approval_json).collect::<Vec<_>>()}}),
    ))
}

async fn own_open(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApprovalRow> {
    if caller.api_key_id.is_some() {
        return Err(ApiError::forbidden(
            "user_token_required",
            "Approve requests with an access token from POST /auth/login.",
        ));
    }
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
    if a.user_id != caller.user_id {
        return Err(not_found());
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
/// workflow on the budget) and closes the request.
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = own_open(&state, &caller, &id).await?;
    let now = to_millis(state.clock.now());
    match a.kind.as_str() {
        "enable_product" => {
            state
                .store
                .enable_product(&a.budget_id, &a.subject_id, now)
                .await?
        }
        "enable_workflow" => {
            state
                .store
                .enable_workflow(&a.budget_id, &a.subject_id, now)
                .await?
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
