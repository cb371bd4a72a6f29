//! Wire types: issues.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Request model for reporting tool usage errors
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueReportRequest {
    /// The tool: its id, slug or name (up to 200 characters).
    pub product_id: String,
    /// What went wrong (up to 10,000 characters).
    pub error_message: String,
    /// What would make the tool better (up to 10,000 characters).
    #[serde(default)]
    pub recommended_improvements: Option<String>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueReportData {
    /// ID of the issue document that was created.
    pub issue_id: String,
    /// True when the reported product identifier resolved to a known product; false when the issue was still recorded against the raw identifier the caller supplied.
    pub product_found: bool,
    /// How the product identifier was resolved (for example `object_id`, `slug`, `exact_name`, or `not_found`).
    pub lookup_method: String,
    /// Original product identifier the caller supplied.
    pub product_id: String,
    /// Canonical product name, when the identifier resolved.
    #[serde(default)]
    pub product_name: Option<String>,
    /// Issue status after creation. Reports are always opened in `open`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueReportResponse {
    /// `true` when the issue report was accepted.
    #[serde(default)]
    pub success: bool,
    /// Human-readable status message.
    #[serde(default)]
    pub message: String,
    pub data: IssueReportData,
}

/// A report as its tool's vendor sees it.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Issue {
    pub issue_id: String,
    /// The resolved product id, or null when the reference did not resolve.
    pub product_id: Option<String>,
    /// The identifier the reporter supplied.
    pub product_ref: String,
    pub product_name: Option<String>,
    pub lookup_method: String,
    pub error_message: String,
    pub recommended_improvements: Option<String>,
    pub status: IssueStatus,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueListData {
    pub issues: Vec<Issue>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueListResponse {
    pub success: bool,
    pub data: IssueListData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    Open,
    Acknowledged,
    Resolved,
    WontFix,
}

impl IssueStatus {
    /// The stored and answered name.
    pub fn as_str(&self) -> &'static str {
        match self {
            IssueStatus::Open => "open",
            IssueStatus::Acknowledged => "acknowledged",
            IssueStatus::Resolved => "resolved",
            IssueStatus::WontFix => "wont_fix",
        }
    }
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueUpdateRequest {
    pub status: IssueStatus,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct IssueResponse {
    pub success: bool,
    pub data: Issue,
}
