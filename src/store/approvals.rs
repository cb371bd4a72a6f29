//! Rows and storage of approval requests.

use crate::clock::Timestamp;
use crate::id::ApprovalId;
use crate::id::{BudgetId, UserId};
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

super::names::stored_names!(ApprovalKind, "approval kind", {
    EnableProduct => "enable_product",
    PriceIncrease => "price_increase",
    Credential => "credential",
    EnableWorkflow => "enable_workflow",
    WorkflowUpdate => "workflow_update",
    WorkflowHuman => "workflow_human",
});

/// Where an approval request is: open until its owner approves or denies
/// it (or it is closed for them, as when the credential it asked for is
/// stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    Open,
    Approved,
    Denied,
}

super::names::stored_names!(ApprovalStatus, "approval status", {
    Open => "open",
    Approved => "approved",
    Denied => "denied",
});

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: ApprovalId,
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub kind: ApprovalKind,
    pub subject_id: String,
    pub detail: String,
    pub status: ApprovalStatus,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// Approval requests to budgets' owners.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Opens a request unless an open one for the same budget, kind and
    /// subject exists; returns the open request's id either way.
    async fn open_approval(&self, a: &ApprovalRow) -> StoreResult<ApprovalId>;
    /// A user's requests, newest first; only one budget's when `budget_id`
    /// is given.
    async fn approvals_for_user(
        &self,
        user_id: UserId,
        budget_id: Option<BudgetId>,
        limit: i64,
    ) -> StoreResult<Vec<ApprovalRow>>;
    async fn approval_by_id(&self, id: &str) -> StoreResult<Option<ApprovalRow>>;
    /// Whether the budget's owner denied a request of this kind and subject.
    async fn approval_denied(
        &self,
        budget_id: BudgetId,
        kind: ApprovalKind,
        subject_id: &str,
    ) -> StoreResult<bool>;
    async fn resolve_approval(
        &self,
        id: &str,
        status: ApprovalStatus,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Closes a user's open requests of one kind and subject, on any budget.
    async fn resolve_approvals_for(
        &self,
        user_id: UserId,
        kind: ApprovalKind,
        subject_id: &str,
        status: ApprovalStatus,
        now: Timestamp,
    ) -> StoreResult<u64>;
}
