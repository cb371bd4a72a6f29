//! `GET /credits/balance` and `GET /credits/history`.

use super::openapi::schemas as oa;
use axum::extract::{RawQuery, State};
use axum::Json;

use super::error::ApiResult;
use super::extract::query_int;
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::iso;
use crate::money::usd;
use crate::services::credits;
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
        super::openapi::Unauthorized,
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %caller.user_id))]
pub async fn balance(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::CustomerCreditBalanceResponse>> {
    let b = credits::balance(&state, &caller).await?;
    Ok(Json(oa::CustomerCreditBalanceResponse {
        success: true,
        message: "Credit balance retrieved".into(),
        data: oa::CustomerCreditBalanceData {
            balance: b.available.get(),
            expiration: b.expires_at.map(iso),
            expires_in_days: b.expires_in_days,
        },
    }))
}

/// A grant as the spec shows it.
pub fn grant_view(g: &GrantRow) -> oa::CustomerCreditGrant {
    oa::CustomerCreditGrant {
        id: g.id.to_string(),
        user_id: g.user_id.to_string(),
        amount_credits: g.amount_credits.get(),
        amount_usd: usd(g.amount_credits),
        remaining_credits: g.remaining_credits.get(),
        credit_type: g.credit_type.clone(),
        source_metadata: g
            .source_metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default(),
        date_created: g.date_created.iso(),
        pooled_at: g.pooled_at.map(|t| t.iso()),
        expires_at: g.expires_at.map(|t| t.iso()),
    }
}

/// A transaction as the spec shows it.
pub fn transaction_view(t: &TransactionRow) -> oa::CustomerCreditTransaction {
    oa::CustomerCreditTransaction {
        id: t.id.to_string(),
        user_id: t.user_id.to_string(),
        transaction_type: t.transaction_type.as_str().into(),
        amount_credits: t.amount_credits.get(),
        amount_usd: usd(t.amount_credits),
        balance_after_credits: t.balance_after_credits.get(),
        balance_after_usd: usd(t.balance_after_credits),
        date_created: t.date_created.iso(),
    }
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
        super::openapi::Unauthorized,
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %caller.user_id))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<oa::CustomerCreditHistoryResponse>> {
    let limit = query_int(query.as_deref(), "limit", 50, 1, 500)?;
    let h = credits::history(&state, &caller, limit).await?;
    Ok(Json(oa::CustomerCreditHistoryResponse {
        success: true,
        message: "Credit history retrieved".into(),
        data: oa::CustomerCreditHistoryData {
            grants: h.grants.iter().map(grant_view).collect(),
            transactions: h.transactions.iter().map(transaction_view).collect(),
        },
    }))
}
