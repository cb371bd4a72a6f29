//! Issue reports about tools, from agents over REST (`POST /issues/report`)
//! or MCP (`report_tool_issue`): always recorded, even for an unknown tool,
//! under a per-user hourly limit.

use crate::clock::Timestamp;
use crate::id::UserId;
use std::sync::OnceLock;

use serde_json::Value;

use crate::app::AppInner;
use crate::auth::Caller;
use crate::id::{InstanceId, IssueId};
use crate::store::{IssueRow, IssueStatus, StoreError};

/// A report as an agent sends it.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The tool's name, slug or product id, as the agent gave it.
    pub product_ref: String,
    pub error_message: String,
    pub recommended_improvements: Option<String>,
    /// Kept only when it names one of the caller's own instances.
    pub instance_id: Option<String>,
}

/// A stored report, and whether it named a known tool.
#[derive(Debug, Clone)]
pub struct RecordedReport {
    pub issue: IssueRow,
    pub product_found: bool,
}

/// Why a report was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The caller has sent `per_hour` reports in the last hour already.
    #[error("at most {per_hour} issue reports an hour")]
    RateLimited { per_hour: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records `report` by `caller`.
pub async fn record(
    app: &AppInner,
    caller: &Caller,
    report: NewReport,
) -> Result<RecordedReport, ReportError> {
    // Held until the report is stored, so concurrent reports by one user
    // cannot all pass the count.
    let _guard = report_lock(caller.user_id).lock().await;
    let now = Timestamp::from(app.clock.now());
    let recent = app
        .store
        .issues_by_user_since(caller.user_id, now - chrono::Duration::hours(1))
        .await?;
    let per_hour = app.settings.issue_reports_per_hour;
    if recent >= per_hour {
        return Err(ReportError::RateLimited { per_hour });
    }
    let snapshot = app.catalog.snapshot();
    let resolved = snapshot.resolve(&report.product_ref);
    let instance_id = report.instance_id.as_deref().and_then(InstanceId::parse);
    // Only the caller's own instance is recorded; a report never fails over it.
    let instance_id = match instance_id {
        Some(id) => app
            .store
            .instance_by_id(id)
            .await?
            .filter(|i| i.user_id == caller.user_id)
            .map(|i| i.id),
        None => None,
    };
    let issue = IssueRow {
        id: IssueId::new(),
        user_id: caller.user_id,
        product_id: resolved.as_ref().map(|(p, _)| p.row.id),
        product_ref: report.product_ref,
        product_name: resolved.as_ref().map(|(p, _)| p.row.display_name.clone()),
        lookup_method: crate::purchase::lookup_name(resolved.as_ref().map(|(_, l)| *l)).into(),
        error_message: report.error_message,
        recommended_improvements: report.recommended_improvements,
        instance_id,
        status: IssueStatus::Open,
        created_at: now,
        updated_at: now,
    };
    app.store.insert_issue(&issue).await?;
    Ok(RecordedReport {
        issue,
        product_found: resolved.is_some(),
    })
}

impl RecordedReport {
    /// The answer to the report, the same over REST and MCP.
    pub fn view(&self) -> tollgate_api::IssueReportResponse {
        tollgate_api::IssueReportResponse {
            success: true,
            message: "Issue report recorded".into(),
            data: tollgate_api::IssueReportData {
                issue_id: self.issue.id.to_string(),
                product_found: self.product_found,
                lookup_method: self.issue.lookup_method.clone(),
                product_id: self.issue.product_ref.clone(),
                product_name: self.issue.product_name.clone(),
                status: self.issue.status.to_string(),
            },
        }
    }

    /// [`RecordedReport::view`] as JSON, for an MCP tool result.
    pub fn response_body(&self) -> Value {
        serde_json::to_value(self.view()).expect("a report view serializes")
    }
}

/// The lock that serialises one user's reports on this node: one of a fixed
/// set, picked by a hash of the user id.
fn report_lock(user_id: UserId) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{Hash, Hasher};
    static LOCKS: OnceLock<Vec<tokio::sync::Mutex<()>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(|| (0..64).map(|_| tokio::sync::Mutex::new(())).collect());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    user_id.hash(&mut hasher);
    &locks[(hasher.finish() % locks.len() as u64) as usize]
}

/// Why a vendor's change to a report was refused.
#[derive(Debug, thiserror::Error)]
pub enum IssueUpdateError {
    /// No such report, or it is about another vendor's tool.
    #[error("no such report about the vendor's tools")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reports about `vendor`'s tools (every report for `None`, an
/// administrator), newest first.
pub async fn vendor_reports(
    app: &AppInner,
    vendor: Option<UserId>,
    limit: i64,
) -> Result<Vec<IssueRow>, StoreError> {
    app.store.issues_for_vendor(vendor, limit).await
}

/// Sets the status of report `issue_id`, which must be about one of
/// `vendor`'s tools (any report, for `None`); returns the report as stored.
pub async fn set_status(
    app: &AppInner,
    vendor: Option<UserId>,
    issue_id: &str,
    status: IssueStatus,
) -> Result<IssueRow, IssueUpdateError> {
    let issue = app
        .store
        .issue_by_id(issue_id)
        .await?
        .ok_or(IssueUpdateError::NotFound)?;
    if let Some(vendor) = vendor {
        let snapshot = app.catalog.snapshot();
        let owned = issue
            .product_id
            .and_then(|p| snapshot.by_id(p))
            .is_some_and(|p| p.row.vendor_id == Some(vendor));
        if !owned {
            return Err(IssueUpdateError::NotFound);
        }
    }
    let id = issue.id.to_string();
    let now = Timestamp::from(app.clock.now());
    app.store.update_issue_status(&id, status, now).await?;
    app.store
        .issue_by_id(&id)
        .await?
        .ok_or(IssueUpdateError::NotFound)
}
