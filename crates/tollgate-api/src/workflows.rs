//! Wire types: workflows.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{ActiveStatus, Object, Visibility};

/// What runs a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// A graph of tool calls.
    Graph,
    /// A model that calls the budget's tools.
    Llm,
}

impl Engine {
    /// The stored and answered name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Graph => "graph",
            Engine::Llm => "llm",
        }
    }
}

/// A workflow.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Workflow {
    pub workflow_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub engine: Engine,
    /// The engine's definition.
    #[schema(value_type = Object)]
    pub definition: Value,
    pub status: ActiveStatus,
    pub created_at: String,
    pub updated_at: String,
    /// Where to trigger it.
    pub trigger_url: Option<String>,
    /// In lists: whether it is enabled on the caller's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_on_budget: Option<bool>,
    /// Counts changes of `engine` and `definition`, from 1.
    pub version: i64,
    /// In lists, when enabled on the caller's budget: the version the budget
    /// runs. The workflow's owner always runs the newest one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<i64>,
}

/// A workflow's settings. On create `name`, `engine` and `definition` are
/// required; on update every field is optional.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct WorkflowRequest {
    /// 1 to 200 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Up to 4000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// `active` (default) or `disabled`.
    #[serde(default)]
    pub status: Option<ActiveStatus>,
    /// `graph` or `llm`.
    #[serde(default)]
    pub engine: Option<Engine>,
    /// The engine's definition.
    #[serde(default)]
    pub definition: Option<Object>,
}

/// A new workflow: `name`, `engine` and `definition` are required.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct NewWorkflowRequest {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Up to 4000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// `active` (default) or `disabled`.
    #[serde(default)]
    pub status: Option<ActiveStatus>,
    pub engine: Engine,
    /// The engine's definition.
    pub definition: Object,
}

impl From<NewWorkflowRequest> for WorkflowRequest {
    fn from(w: NewWorkflowRequest) -> Self {
        WorkflowRequest {
            name: Some(w.name),
            description: w.description,
            visibility: w.visibility,
            status: w.status,
            engine: Some(w.engine),
            definition: Some(w.definition),
        }
    }
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct WorkflowResponse {
    pub success: bool,
    pub data: Workflow,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct WorkflowList {
    pub workflows: Vec<Workflow>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct WorkflowListResponse {
    pub success: bool,
    pub data: WorkflowList,
}
