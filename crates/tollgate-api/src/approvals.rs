//! Wire types: approvals.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A request a blocked agent sent its owner.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub budget_id: String,
    /// `enable_product`, `enable_workflow`, `credential`, `workflow_update` (a shared workflow changed; approving moves the budget to its new version) or `price_increase` (a tool now costs more than the owner agreed to; approving agrees to its current prices).
    pub kind: String,
    /// The product, workflow, `product_id:name` of the credential, or
    /// `workflow_id:version` of a workflow's newer version.
    pub subject_id: String,
    /// What was asked, for a person.
    pub detail: Value,
    /// `open`, `approved` or `denied`.
    pub status: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApprovalResponse {
    pub success: bool,
    pub data: Approval,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApprovalListResponse {
    pub success: bool,
    pub data: ApprovalList,
}
