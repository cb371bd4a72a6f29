//! Rows and storage of approval requests.

use async_trait::async_trait;

use super::StoreResult;

/// What an approval request asks a budget's owner for, stored as the
/// strings of [`ApprovalKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalKind {
    /// Enable a tool on the budget (`subject_id`: the product id).
    EnableProduct,
    /// Agree to a tool's dearer price (`subject_id`: the product id).
    PriceIncrease,
    /// Store a credential a tool needs (`subject_id`: `product_id:name`).
    Credential,
    /// Enable a workflow on the budget (`subject_id`: the workflow id).
    EnableWorkflow,
    /// Run a workflow's newer version (`subject_id`: `workflow_id:version`).
    WorkflowUpdate,
    /// A workflow's `notify_human` step (`subject_id`: `run_id:step`).
    WorkflowHuman,
}

impl ApprovalKind {
    pub const ALL: [ApprovalKind; 6] = [
        ApprovalKind::EnableProduct,
        ApprovalKind::PriceIncrease,
        ApprovalKind::Credential,
        ApprovalKind::EnableWorkflow,
        ApprovalKind::WorkflowUpdate,
        ApprovalKind::WorkflowHuman,
    ];

    /// The stored and answered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::EnableProduct => "enable_product",
            ApprovalKind::PriceIncrease => "price_increase",
            ApprovalKind::Credential => "credential",
            ApprovalKind::EnableWorkflow => "enable_workflow",
            ApprovalKind::WorkflowUpdate => "workflow_update",
            ApprovalKind::WorkflowHuman => "workflow_human",
        }
    }
}

impl std::fmt::Display for ApprovalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ApprovalKind {
    type Err = UnknownApprovalKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApprovalKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownApprovalKind(s.to_string()))
    }
}

impl TryFrom<String> for ApprovalKind {
    type Error = UnknownApprovalKind;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A stored kind this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown approval kind {0:?}")]
pub struct UnknownApprovalKind(pub String);

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: String,
    pub user_id: String,
    pub budget_id: String,
    #[sqlx(try_from = "String")]
    pub kind: ApprovalKind,
    pub subject_id: String,
    pub detail: String,
    pub status: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

/// Approval requests to budgets' owners.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Opens a request unless an open one for the same budget, kind and
    /// subject exists; returns the open request's id either way.
    async fn open_approval(&self, a: &ApprovalRow) -> StoreResult<String>;
    /// A user's requests, newest first; only one budget's when `budget_id`
    /// is given.
    async fn approvals_for_user(
        &self,
        user_id: &str,
        budget_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRow>>;
    async fn approval_by_id(&self, id: &str) -> StoreResult<Option<ApprovalRow>>;
    /// Whether the budget's owner denied a request of this kind and subject.
    async fn approval_denied(
        &self,
        budget_id: &str,
        kind: ApprovalKind,
        subject_id: &str,
    ) -> StoreResult<bool>;
    async fn resolve_approval(&self, id: &str, status: &str, now: i64) -> StoreResult<bool>;
    /// Closes a user's open requests of one kind and subject, on any budget.
    async fn resolve_approvals_for(
        &self,
        user_id: &str,
        kind: ApprovalKind,
        subject_id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<u64>;
}
