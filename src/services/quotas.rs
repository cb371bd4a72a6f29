//! Per-account object quotas: how many budgets, API keys, workflows,
//! bundles and MCP sessions one account may have (`config::Quotas`, 0 for
//! no limit).
//!
//! The count is read before the insert, so two creations racing at the
//! limit may both pass; a quota bounds what an account can pile up, it is
//! not an exact counter.

use crate::app::AppInner;

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
    pub fn kind(self) -> &'static str {
        match self {
            Quota::BudgetsPerUser => "budget",
            Quota::ApiKeysPerBudget => "api_key",
            Quota::WorkflowsPerUser => "workflow",
            Quota::BundlesPerUser => "bundle",
            Quota::McpSessionsPerUser => "mcp_session",
        }
    }

    fn limit(self, app: &AppInner) -> u32 {
        let q = &app.settings.quotas;
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

/// One more object would pass its quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct QuotaExceeded {
    pub quota: Quota,
    pub limit: u32,
    /// How many the account has already.
    pub count: i64,
}

impl QuotaExceeded {
    /// What the refusal tells the caller, the same over every adapter.
    pub fn message(&self) -> String {
        format!(
            "{} Ask the operator if you need more.",
            self.quota.advice(self.limit)
        )
    }

    /// The refusal's `data`: the kind of object, the limit and the count.
    pub fn data(&self) -> serde_json::Value {
        serde_json::json!({"kind": self.quota.kind(), "limit": self.limit, "count": self.count})
    }
}

/// Refuses one more object when `existing` already reaches the quota.
pub fn check(app: &AppInner, quota: Quota, existing: i64) -> Result<(), QuotaExceeded> {
    let limit = quota.limit(app);
    if limit == 0 || existing < i64::from(limit) {
        return Ok(());
    }
    Err(QuotaExceeded {
        quota,
        limit,
        count: existing,
    })
}
