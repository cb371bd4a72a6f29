//! Wire types: runs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Object;
/// Lifecycle status of the run.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Delivery status of the callback.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    Pending,
    Delivered,
    Failed,
    Skipped,
}

/// A workflow trigger.
#[derive(Debug, Clone, Default, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct TriggerRequest {
    /// Prompt forwarded to the workflow for execution: 1 to 32,000
    /// characters, not only whitespace.
    #[schema(
        min_length = 1,
        max_length = 32000,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub prompt: String,
    /// Caller-supplied idempotency key. Retrying with the same key returns the existing run. 1 to 200 characters, not only whitespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub request_id: Option<String>,
    /// HTTPS URL that will receive a POST with the final run status: up to
    /// 2,048 characters, without credentials, naming a host (not `localhost`
    /// nor a private, loopback or link-local address). The pattern is the
    /// form of such a URL with a host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 2048,
        pattern = r"^https://(?![^/?#]*[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt](?:[/?#]|$))[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z][A-Za-z0-9-]*)*(?:[/?#][!-~]*)?$"
    )]
    pub callback_url: Option<String>,
    /// Free-form metadata persisted alongside the run for caller-side tracing, at most 16 KiB as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<Object>,
}

/// The short form of a run the trigger answers with.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RunSummary {
    /// MongoDB ObjectId of the run document.
    pub run_id: String,
    /// ObjectId of the workflow being executed.
    pub workflow_id: String,
    pub status: RunStatus,
    /// ISO-8601 timestamp when the run was created.
    pub created_at: String,
    /// ISO-8601 timestamp of the most recent state change.
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct TriggerData {
    pub run: RunSummary,
    /// Absolute URL the caller can poll for run status.
    pub status_url: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct TriggerResponse {
    /// `true` when the trigger was accepted.
    pub success: bool,
    pub data: TriggerData,
    /// `Workflow trigger accepted`.
    pub message: String,
}

/// The codes of a blocked trigger.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerConflictCode {
    WorkflowNotOnBudget,
    MissingCredentials,
    SetupRequired,
    /// The `request_id` names a run of another budget than the API key's.
    RequestIdInUse,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct TriggerConflictData {
    /// Approval request ID when the workflow is not yet enabled on the budget.
    #[serde(default)]
    pub workflow_request_id: Option<String>,
    /// Approval request IDs opened for the missing credentials.
    #[serde(default)]
    pub credential_request_ids: Vec<String>,
    /// Card payload describing the workflow that needs to be added.
    #[serde(default)]
    pub add_workflow: Option<Object>,
    /// Requirement descriptors for credentials that still need to be configured.
    #[serde(default)]
    pub missing_credentials: Vec<Object>,
    /// Approval request IDs opened to enable the workflow's tools on the budget.
    #[serde(default)]
    pub product_request_ids: Option<Vec<String>>,
    /// The workflow's tools not enabled on the budget.
    #[serde(default)]
    pub missing_products: Option<Vec<Object>>,
}

/// Workflow is not enabled on the caller's budget and/or required credentials are missing.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct TriggerConflict {
    #[schema(value_type = bool, example = false)]
    pub success: bool,
    /// Stable machine-readable error code.
    pub error: TriggerConflictCode,
    pub message: String,
    /// The same message.
    pub detail: String,
    #[serde(default)]
    pub data: Option<TriggerConflictData>,
}

/// A workflow run.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Run {
    /// MongoDB ObjectId of the run document.
    pub run_id: String,
    /// ObjectId of the workflow being executed.
    pub workflow_id: String,
    pub status: RunStatus,
    /// Original prompt supplied when the run was triggered.
    pub prompt: String,
    /// Final model response text once the run completes.
    #[serde(default)]
    pub response_text: Option<String>,
    /// Chat session ID bound to this run, when available.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Model used to execute the run, when known.
    #[serde(default)]
    pub model: Option<String>,
    /// Stable error code when the run failed.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Human-readable error message when the run failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Registered callback URL, if the caller supplied one.
    #[serde(default)]
    pub callback_url: Option<String>,
    pub callback_status: CallbackStatus,
    /// HTTP status code from the most recent callback attempt.
    #[serde(default)]
    pub callback_last_status: Option<i64>,
    /// Error message from the most recent failed callback attempt.
    #[serde(default)]
    pub callback_last_error: Option<String>,
    /// ISO-8601 timestamp of the most recent callback attempt.
    #[serde(default)]
    pub callback_attempted_at: Option<String>,
    /// ISO-8601 timestamp when the callback was delivered successfully.
    #[serde(default)]
    pub callback_delivered_at: Option<String>,
    /// Metadata supplied with the original trigger request.
    #[serde(default)]
    pub request_metadata: Object,
    /// Internal per-run metadata captured during execution.
    #[serde(default)]
    pub run_metadata: Object,
    /// ISO-8601 timestamp when the run was created.
    pub created_at: String,
    /// ISO-8601 timestamp of the most recent state change.
    pub updated_at: String,
    /// ISO-8601 timestamp when execution began.
    #[serde(default)]
    pub started_at: Option<String>,
    /// ISO-8601 timestamp when execution finished, if completed.
    #[serde(default)]
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RunData {
    pub run: Run,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RunResponse {
    /// `true` when the run was located.
    pub success: bool,
    pub data: RunData,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RunCancelResponse {
    pub success: bool,
    pub data: RunData,
    /// `Run cancelled`, or that the run stops at its next step.
    pub message: String,
}

impl RunStatus {
    /// The status as the API spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// True once a run in this status has ended.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Run {
    /// True once the run has ended.
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}
