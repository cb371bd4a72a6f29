//! Per-account object quotas: how many budgets, API keys, workflows and
//! bundles one account may have (`config::Quotas`, 0 for no limit).
//!
//! The count is read before the insert, so two creations racing at the
//! limit may both pass; a quota bounds what an account can pile up, it is
//! not an exact counter.

use axum::http::StatusCode;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use crate::app::AppState;

/// A kind of object with a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    BudgetsPerUser,
    ApiKeysPerBudget,
    WorkflowsPerUser,
    BundlesPerUser,
    McpSessionsPerUser,
}

impl Quota {
    /// The object kind, as the refusal's `data.kind` names it.
    fn kind(self) -> &'static str {
        match self {
            Quota::BudgetsPerUser => "budget",
            Quota::ApiKeysPerBudget => "api_key",
            Quota::WorkflowsPerUser => "workflow",
            Quota::BundlesPerUser => "bundle",
            Quota::McpSessionsPerUser => "mcp_session",
        }
    }

    fn limit(self, state: &AppState) -> u32 {
        let q = &state.settings.quotas;
        match self {
            Quota::BudgetsPerUser => q.max_budgets_per_user,
            Quota::ApiKeysPerBudget => q.max_api_keys_per_budget,
            Quota::WorkflowsPerUser => q.max_workflows_per_user,
            Quota::BundlesPerUser => q.max_bundles_per_user,
            Quota::McpSessionsPerUser => q.max_mcp_sessions_per_user,
        }
    }

    fn advice(self, limit: u32) -> String {
        match self {
            Quota::BudgetsPerUser => format!("An account may have at most {limit} budgets."),
            Quota::ApiKeysPerBudget => format!(
                "A budget may have at most {limit} unrevoked API keys; revoke one you no longer use."
            ),
            Quota::WorkflowsPerUser => format!("An account may own at most {limit} workflows."),
            Quota::BundlesPerUser => format!("An account may own at most {limit} bundles."),
            Quota::McpSessionsPerUser => format!(
                "An account may have at most {limit} MCP sessions open; end one with DELETE /mcp or reuse it."
            ),
        }
    }
}

/// Refuses one more object when `existing` already reaches the quota.
pub fn check(state: &AppState, quota: Quota, existing: i64) -> ApiResult<()> {
    let limit = quota.limit(state);
    if limit == 0 || existing < i64::from(limit) {
        return Ok(());
    }
    Err(ApiError::coded(
        StatusCode::CONFLICT,
        "quota_exceeded",
        format!("{} Ask the operator if you need more.", quota.advice(limit)),
    )
    .with_data(json!({"kind": quota.kind(), "limit": limit, "count": existing})))
}
