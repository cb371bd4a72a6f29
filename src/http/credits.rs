//! `GET /credits/balance` and `GET /credits/history`.

use super::openapi::schemas as oa;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::query_int;
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::{from_millis, iso};
use crate::money::usd;
use crate::store::{GrantRow, TransactionRow};

/// `GET /credits/balance`.
#[utoipa::path(
    get,
    path = "/credits/balance",
    tag = "Tool Calls Via REST API",
    operation_id = "credits_balance",
    summary = "Get My Credit Balance",
    description = "Check credit balance.",
    responses(
        (status = 200, description = "Current available credit balance and next expiration.", body = oa::CustomerCreditBalanceResponse),
        (status = 401, description = "Missing or invalid bearer token (`missing_token`, `invalid_token`).", body = oa::ErrorResponse),
        (status = 422, description = "Validation Error", body = oa::HTTPValidationError),
        (status = 500, description = "Unexpected server error (`internal_error`); the body names the request id.", body = oa::ErrorResponse),
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn balance(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let now = state.clock.now();
    let b = state.ledger.balance(&caller.user_id).await?;
    let (expiration, days) = match b.next_expiry {
        Some(t) if b.available > 0 => (Some(iso(t)), Some((t - now).num_days().max(0))),
        _ => (None, None),
    };
    Ok(Json(json!({
        "success": true,
        "message": "Credit balance retrieved",
        "data": {"balance": b.available, "expiration": expiration, "expires_in_days": days},
    })))
}

/// A grant as the spec shows it.
pub fn grant_json(g: &GrantRow) -> Value {
    json!({
        "_id": g.id,
        "user_id": g.user_id,
        "amount_credits": g.amount_credits,
        "amount_usd": usd(g.amount_credits),
        "remaining_credits": g.remaining_credits,
        "credit_type": g.credit_type,
        "source_metadata": g.source_metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()).unwrap_or_else(|| json!({})),
        "date_created": iso(from_millis(g.date_created)),
        "pooled_at": g.pooled_at.map(|t| iso(from_millis(t))),
        "expires_at": g.expires_at.map(|t| iso(from_millis(t))),
    })
}

/// A transaction as the spec shows it.
pub fn transaction_json(t: &TransactionRow) -> Value {
    json!({
        "_id": t.id,
        "user_id": t.user_id,
        "transaction_type": t.transaction_type,
        "amount_credits": t.amount_credits,
        "amount_usd": usd(t.amount_credits),
        "balance_after_credits": t.balance_after_credits,
        "balance_after_usd": usd(t.balance_after_credits),
        "date_created": iso(from_millis(t.date_created)),
    })
}

/// `GET /credits/history?limit=N`: grants and transactions, newest first.
#[utoipa::path(
    get,
    path = "/credits/history",
    tag = "Tool Calls Via REST API",
    operation_id = "credits_history",
    summary = "Get My Credit History",
    description = "View credit transaction history. With an API key, purchases made under the user's other budgets are left out.",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "How many grants and how many transactions to return, 1 to 500 (default 50)."),
    ),
    responses(
        (status = 200, description = "Credit grants and transaction audit trail for the caller.", body = oa::CustomerCreditHistoryResponse),
        (status = 401, description = "Missing or invalid bearer token (`missing_token`, `invalid_token`).", body = oa::ErrorResponse),
        (status = 422, description = "Validation Error", body = oa::HTTPValidationError),
        (status = 500, description = "Unexpected server error (`internal_error`); the body names the request id.", body = oa::ErrorResponse),
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let limit = query_int(query.as_deref(), "limit", 50, 1, 500)?;
    let grants = state.store.grants_for_user(&caller.user_id, limit).await?;
    // The wallet is the user's, but an API key sees only its own budget's
    // purchases in it.
    let transactions = match caller.key_budget() {
        None => {
            state
                .store
                .transactions_for_user(&caller.user_id, limit)
                .await?
        }
        Some(budget) => {
            state
                .store
                .transactions_for_budget(&caller.user_id, budget, limit)
                .await?
        }
    };
    Ok(Json(json!({
        "success": true,
        "message": "Credit history retrieved",
        "data": {
            "grants": grants.iter().map(grant_json).collect::<Vec<_>>(),
            "transactions": transactions.iter().map(transaction_json).collect::<Vec<_>>(),
        },
    })))
}
