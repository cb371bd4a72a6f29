//! A budget's API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{Body, Fields, FromBody};
use super::AppState;
use crate::accounts;
use crate::auth::Caller;
use crate::clock::{from_millis, iso, to_millis};
use crate::id::ObjectId;
use crate::store::{ApiKeyRow, BudgetRow};

/// The caller's own budget, or 404 for anyone else's, so ids do not leak.
async fn own_budget(state: &AppState, caller: &Caller, budget_id: &str) -> ApiResult<BudgetRow> {
    let not_found =
        || ApiError::not_found("budget_not_found", "No budget with this id belongs to you.");
    if !ObjectId::is_valid(budget_id) {
        return Err(not_found());
    }
    let budget = state
        .store
        .budget_by_id(budget_id)
        .await?
        .ok_or_else(not_found)?;
    if budget.user_id != caller.user_id {
        return Err(not_found());
    }
    Ok(budget)
}

/// Key management needs the owner signed in, not an agent holding a key.
fn require_user_token(caller: &Caller) -> ApiResult<()> {
    if caller.api_key_id.is_some() {
        return Err(ApiError::forbidden(
            "user_token_required",
            "Manage API keys with an access token from POST /auth/login, not with an API key.",
        ));
    }
    Ok(())
}

fn key_json(k: &ApiKeyRow) -> Value {
    json!({
        "id": k.id,
        "budget_id": k.budget_id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": iso(from_millis(k.created_at)),
        "revoked_at": k.revoked_at.map(|t| iso(from_millis(t))),
    })
}

pub struct NewKey {
    name: String,
}

impl FromBody for NewKey {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f
            .opt_str("name")
            .or_else(|| (!f.has("name")).then(|| "default".to_string()));
        let name = f.str_len("name", name, 1, 100)?;
        Some(NewKey { name })
    }
}

/// `POST /budgets/{budget_id}/api-keys`: the key is in this response only.
#[tracing::instrument(skip_all, fields(budget_id = %budget_id))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(budget_id): Path<String>,
    Body(body): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_user_token(&caller)?;
    let budget = own_budget(&state, &caller, &budget_id).await?;
    let (row, secret) = accounts::create_api_key(
        state.store.as_ref(),
        &budget,
        &body.name,
        to_millis(state.clock.now()),
    )
    .await?;
    let mut data = key_json(&row);
    data["key"] = Value::String(secret);
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"success": true, "message": "Store this key now: it is not shown again.", "data": data}),
        ),
    ))
}

/// `GET /budgets/{budget_id}/api-keys`: never shows the keys themselves.
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(budget_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_user_token(&caller)?;
    let budget = own_budget(&state, &caller, &budget_id).await?;
    let keys = state.store.api_keys_for_budget(&budget.id).await?;
    Ok(Json(
        json!({"success": true, "data": {"api_keys": keys.iter().map(key_json).collect::<Vec<_>>()}}),
    ))
}

/// `DELETE /budgets/{budget_id}/api-keys/{key_id}`: the key stops working at once.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((budget_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    require_user_token(&caller)?;
    let budget = own_budget(&state, &caller, &budget_id).await?;
    let now = to_millis(state.clock.now());
    if !state.store.revoke_api_key(&budget.id, &key_id, now).await? {
        return Err(ApiError::not_found(
            "api_key_not_found",
            "No live API key with this id on this budget.",
        ));
    }
    Ok(Json(
        json!({"success": true, "data": {"id": key_id, "revoked_at": iso(from_millis(now))}}),
    ))
}
