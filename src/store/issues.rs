//! Rows and storage of issue reports.

use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::id::UserId;
use crate::id::{InstanceId, IssueId};
use async_trait::async_trait;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IssueRow {
    pub id: IssueId,
    pub user_id: UserId,
    pub product_id: Option<ProductId>,
    pub product_ref: String,
    pub product_name: Option<String>,
    pub lookup_method: String,
    pub error_message: String,
    pub recommended_improvements: Option<String>,
    pub instance_id: Option<InstanceId>,
    pub status: IssueStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a report stands with the tool's vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueStatus {
    Open,
    Acknowledged,
    Resolved,
    WontFix,
}

super::names::stored_names!(IssueStatus, "issue status", {
    Open => "open",
    Acknowledged => "acknowledged",
    Resolved => "resolved",
    WontFix => "wont_fix",
});

/// Issue reports about tools.
#[async_trait]
pub trait IssueStore: Send + Sync {
    async fn insert_issue(&self, i: &IssueRow) -> StoreResult<()>;
    async fn issues_by_user_since(&self, user_id: UserId, since: Timestamp) -> StoreResult<i64>;
    async fn issues_for_vendor(
        &self,
        vendor_id: Option<UserId>,
        limit: i64,
    ) -> StoreResult<Vec<IssueRow>>;
    async fn issue_by_id(&self, id: &str) -> StoreResult<Option<IssueRow>>;
    async fn update_issue_status(
        &self,
        id: &str,
        status: IssueStatus,
        now: Timestamp,
    ) -> StoreResult<()>;
}
