//! Opening approval requests: what a blocked purchase, trigger or workflow
//! step asks a budget's owner for. It sits here, under the purchase path
//! and the workflow engines that open requests, so both can; resolving a
//! request is `services::approvals`.

use crate::clock::Timestamp;
use crate::id::ApprovalId;
use crate::id::{BudgetId, UserId};
use serde_json::Value;

use super::AppInner;
use crate::auth::Caller;
use crate::store::{ApprovalKind, ApprovalRow, ApprovalStatus, StoreError};

/// A request to open.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub kind: ApprovalKind,
    /// What the request is about; one open request per budget, kind and subject.
    pub subject_id: String,
    /// What the owner is shown.
    pub detail: Value,
}

impl NewApproval {
    /// A request of `caller`'s, on its budget.
    pub fn by(caller: &Caller, kind: ApprovalKind, subject_id: String, detail: Value) -> Self {
        NewApproval {
            user_id: caller.user_id,
            budget_id: caller.budget_id,
            kind,
            subject_id,
            detail,
        }
    }
}

/// Opens `request` unless the same one is open already; returns the open
/// request's id either way.
pub async fn open(app: &AppInner, request: NewApproval) -> Result<ApprovalId, StoreError> {
    app.store
        .open_approval(&ApprovalRow {
            id: ApprovalId::new(),
            user_id: request.user_id,
            budget_id: request.budget_id,
            kind: request.kind,
            subject_id: request.subject_id,
            detail: request.detail.to_string(),
            status: ApprovalStatus::Open,
            created_at: Timestamp::from(app.clock.now()),
            resolved_at: None,
        })
        .await
}
