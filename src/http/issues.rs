//! `POST /issues/report`, and vendors' view of reports about their tools.

use super::openapi::schemas as oa;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::extract::{query_int, require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::id::UserId;
use crate::services::issues::{self, NewReport};
use crate::store::{IssueRow, IssueStatus};

impl FromBody for oa::IssueReportRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let product_id = f.req_str("product_id");
        let error_message = f.req_str("error_message");
        let recommended = f.opt_str("recommended_improvements");
        let product_id = f.str_len("product_id", product_id, 0, 200);
        let error_message = f.str_len("error_message", error_message, 0, 10_000);
        let recommended_improvements = match recommended {
            Some(r) => Some(f.str_len("recommended_improvements", Some(r), 0, 10_000)?),
            None => None,
        };
        Some(oa::IssueReportRequest {
            product_id: product_id?,
            error_message: error_message?,
            recommended_improvements,
        })
    }
}

/// `POST /issues/report`: always recorded, even for an unknown product.
#[utoipa::path(
    post,
    path = "/issues/report",
    tag = "Tool Calls Via REST API",
    operation_id = "issues_report",
    summary = "Report an issue with a tool call",
    description = "Report an issue with a tool call. The report is recorded even when the product identifier does not resolve. At most a configured number of reports an hour are accepted per account.",
    params(
        ("x-instance-id" = Option<String>, Header, description = "Connection instance ID for persistent storage"),
    ),
    request_body(content = oa::IssueReportRequest, content_type = "application/json", description = "Request model for reporting tool usage errors"),
    responses(
        (status = 200, description = "The issue report was recorded. The endpoint always reports success (even when the product identifier could not be resolved) to avoid blocking agent flows.", body = oa::IssueReportResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        super::openapi::Invalid,
        (status = 429, description = "Too many reports this hour (`rate_limited`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body<oa::IssueReportRequest>,
) -> ApiResult<Json<oa::IssueReportResponse>> {
    let instance_id = headers
        .get("x-instance-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase());
    let report = NewReport {
        product_ref: body.product_id,
        error_message: body.error_message,
        recommended_improvements: body.recommended_improvements,
        instance_id,
    };
    let recorded = issues::record(&state, &caller, report).await?;
    Ok(Json(recorded.view()))
}

/// The answered status of a stored one.
fn wire_status(status: IssueStatus) -> oa::IssueStatus {
    match status {
        IssueStatus::Open => oa::IssueStatus::Open,
        IssueStatus::Acknowledged => oa::IssueStatus::Acknowledged,
        IssueStatus::Resolved => oa::IssueStatus::Resolved,
        IssueStatus::WontFix => oa::IssueStatus::WontFix,
    }
}

/// The stored status of a requested one.
fn stored_status(status: oa::IssueStatus) -> IssueStatus {
    match status {
        oa::IssueStatus::Open => IssueStatus::Open,
        oa::IssueStatus::Acknowledged => IssueStatus::Acknowledged,
        oa::IssueStatus::Resolved => IssueStatus::Resolved,
        oa::IssueStatus::WontFix => IssueStatus::WontFix,
    }
}

fn issue_view(i: IssueRow) -> oa::Issue {
    oa::Issue {
        issue_id: i.id.to_string(),
        product_id: i.product_id.map(|id| id.to_string()),
        product_ref: i.product_ref,
        product_name: i.product_name,
        lookup_method: i.lookup_method,
        error_message: i.error_message,
        recommended_improvements: i.recommended_improvements,
        status: wire_status(i.status),
        created_at: i.created_at.iso(),
        updated_at: i.updated_at.iso(),
    }
}

fn vendor_or_admin(caller: &Caller) -> ApiResult<Option<UserId>> {
    // An agent holding a vendor's budget key is not the vendor.
    require_user_token(caller, "Managing reports")?;
    match caller.role {
        Role::Admin => Ok(None),
        Role::Vendor => Ok(Some(caller.user_id)),
        Role::Customer => Err(ApiError::forbidden(
            "vendor_required",
            "Only vendors and administrators may do this.",
        )),
    }
}

/// `GET /vendor/issues`: reports about the vendor's own tools (all, for admins).
#[utoipa::path(
    get,
    path = "/vendor/issues",
    tag = "Vendor",
    operation_id = "issues_vendor_list",
    summary = "Reports about my tools",
    description = "Issue reports about the vendor's own tools, newest first (all reports, for administrators).",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many, 1 to 500 (default 50)."),
    ),
    responses(
        (status = 200, description = "The reports.", body = oa::IssueListResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "Not a vendor or administrator (`vendor_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn vendor_list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<oa::IssueListResponse>> {
    let vendor = vendor_or_admin(&caller)?;
    let limit = query_int(query.as_deref(), "limit", 50, 1, 500)?;
    let reports = issues::vendor_reports(&state, vendor, limit).await?;
    Ok(Json(oa::IssueListResponse {
        success: true,
        data: oa::IssueListData {
            issues: reports.into_iter().map(issue_view).collect(),
        },
    }))
}

impl FromBody for oa::IssueUpdateRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let status = f.req_str("status")?;
        match serde_json::from_value(Value::String(status.clone())) {
            Ok(status) => Some(oa::IssueUpdateRequest { status }),
            Err(_) => {
                f.error(
                    "status",
                    "enum",
                    "Input should be 'open', 'acknowledged', 'resolved' or 'wont_fix'",
                    Value::String(status),
                    None,
                );
                None
            }
        }
    }
}

/// `PATCH /vendor/issues/{issue_id}`: a vendor updates a report about their tool.
#[utoipa::path(
    patch,
    path = "/vendor/issues/{issue_id}",
    tag = "Vendor",
    operation_id = "issues_vendor_update",
    summary = "Update a report's status",
    params(
        ("issue_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The report's id."),
    ),
    request_body(content = oa::IssueUpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated report.", body = oa::IssueResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "Not a vendor or administrator (`vendor_required`), or an API key was used (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No report with this id about the vendor's tools (`issue_not_found`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn vendor_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(issue_id): Path<String>,
    Body(body): Body<oa::IssueUpdateRequest>,
) -> ApiResult<Json<oa::IssueResponse>> {
    let vendor = vendor_or_admin(&caller)?;
    let issue = issues::set_status(&state, vendor, &issue_id, stored_status(body.status)).await?;
    Ok(Json(oa::IssueResponse {
        success: true,
        data: issue_view(issue),
    }))
}
