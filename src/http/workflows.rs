//! Workflow definitions: create, update, list; enabling them on budgets.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::{listing_fields, require_user_token, Body, Fields, FromBody};
use crate::app::AppState;
use crate::auth::Caller;
use crate::services::workflows::{self as service, WorkflowChanges};
use crate::store::{WorkflowEngine, WorkflowRow, WorkflowStatus};

/// A workflow with the URL that triggers it.
fn workflow_view(state: &AppState, w: &WorkflowRow) -> oa::Workflow {
    oa::Workflow {
        workflow_id: w.id.to_string(),
        owner_id: w.owner_id.to_string(),
        name: w.name.clone(),
        description: w.description.clone(),
        visibility: super::extract::wire_visibility(w.visibility),
        engine: wire_engine(w.engine),
        definition: serde_json::from_str(&w.definition).unwrap_or(Value::Null),
        status: match w.status {
            WorkflowStatus::Active => oa::ActiveStatus::Active,
            WorkflowStatus::Disabled => oa::ActiveStatus::Disabled,
        },
        created_at: w.created_at.iso(),
        updated_at: w.updated_at.iso(),
        trigger_url: Some(format!(
            "{}/api/agent-webhooks/{}/trigger",
            state.settings.public_url, w.id
        )),
        enabled_on_budget: None,
        version: w.version,
        pinned_version: None,
    }
}

fn workflow_response(state: &AppState, w: &WorkflowRow) -> Json<oa::WorkflowResponse> {
    Json(oa::WorkflowResponse {
        success: true,
        data: workflow_view(state, w),
    })
}

/// A workflow's fields from a body; on create `name`, `engine` and
/// `definition` are required.
fn workflow_fields(f: &mut Fields<'_>, creating: bool) -> Option<oa::WorkflowRequest> {
    let (name, description, visibility) = listing_fields(f, creating);
    let status = f.opt_choice(
        "status",
        &[
            ("active", oa::ActiveStatus::Active),
            ("disabled", oa::ActiveStatus::Disabled),
        ],
    );
    let engine = match if creating {
        f.req_str("engine")
    } else {
        f.opt_str("engine")
    } {
        None => None,
        Some(e) => match e.as_str() {
            "graph" => Some(oa::Engine::Graph),
            "llm" => Some(oa::Engine::Llm),
            _ => {
                let msg = format!("unknown engine {e:?}; use graph or llm");
                f.error(
                    "engine",
                    "value_error",
                    format!("Value error, {msg}"),
                    Value::Null,
                    Some(json!({ "error": msg })),
                );
                None
            }
        },
    };
    let definition = if creating {
        f.req_object("definition")
    } else {
        f.opt_object("definition")
    };
    Some(oa::WorkflowRequest {
        name,
        description,
        visibility,
        status,
        engine,
        definition,
    })
}

impl FromBody for oa::NewWorkflowRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let w = workflow_fields(f, true)?;
        Some(oa::NewWorkflowRequest {
            name: w.name?,
            description: w.description,
            visibility: w.visibility,
            status: w.status,
            engine: w.engine?,
            definition: w.definition?,
        })
    }
}

impl FromBody for oa::WorkflowRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        workflow_fields(f, false)
    }
}

/// The stored engine of a requested one.
pub fn stored_engine(engine: oa::Engine) -> WorkflowEngine {
    match engine {
        oa::Engine::Graph => WorkflowEngine::Graph,
        oa::Engine::Llm => WorkflowEngine::Llm,
    }
}

/// The answered engine of a stored one.
fn wire_engine(engine: WorkflowEngine) -> oa::Engine {
    match engine {
        WorkflowEngine::Graph => oa::Engine::Graph,
        WorkflowEngine::Llm => oa::Engine::Llm,
    }
}

/// The changes a request asks for, in stored terms.
fn changes(req: oa::WorkflowRequest) -> WorkflowChanges {
    WorkflowChanges {
        name: req.name,
        description: req.description,
        visibility: req.visibility.map(super::extract::stored_visibility),
        status: req.status.map(|s| match s {
            oa::ActiveStatus::Active => WorkflowStatus::Active,
            oa::ActiveStatus::Disabled => WorkflowStatus::Disabled,
        }),
        engine: req.engine.map(stored_engine),
        definition: req.definition,
    }
}

/// `POST /workflows`.
#[utoipa::path(
    post,
    path = "/workflows",
    tag = "Workflows",
    operation_id = "workflows_create",
    summary = "Create a workflow",
    description = "A `graph` or `llm` workflow; the definition is validated against the catalog.",
    request_body(content = oa::NewWorkflowRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The workflow, with its trigger URL.", body = oa::WorkflowResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 409, description = "The account already has as many workflows as it may (`quota_exceeded`; `data.kind` is `workflow`, `data.limit` the limit).", body = oa::ErrorResponse),
        (status = 403, description = "A budget API key was used; creating and changing workflows needs an access token from POST /auth/login (`user_token_required`).", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<oa::NewWorkflowRequest>,
) -> ApiResult<(StatusCode, Json<oa::WorkflowResponse>)> {
    require_user_token(&caller, "Creating and changing workflows")?;
    let w = service::create(&state, &caller, changes(body.into())).await?;
    Ok((StatusCode::CREATED, workflow_response(&state, &w)))
}

/// `GET /workflows`: the workflows the caller can trigger (their own and public ones).
#[utoipa::path(
    get,
    path = "/workflows",
    tag = "Workflows",
    operation_id = "workflows_list",
    summary = "List workflows",
    description = "The caller's workflows and public ones, with whether each is enabled on the caller's budget.",
    responses(
        (status = 200, description = "The workflows.", body = oa::WorkflowListResponse),
        super::openapi::Unauthorized,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<oa::WorkflowListResponse>> {
    let workflows = service::list(&state, &caller)
        .await?
        .iter()
        .map(|l| oa::Workflow {
            enabled_on_budget: Some(l.pinned_version.is_some()),
            pinned_version: l.pinned_version,
            ..workflow_view(&state, &l.workflow)
        })
        .collect();
    Ok(Json(oa::WorkflowListResponse {
        success: true,
        data: oa::WorkflowList { workflows },
    }))
}

/// `GET /workflows/{id}`.
#[utoipa::path(
    get,
    path = "/workflows/{workflow_id}",
    tag = "Workflows",
    operation_id = "workflows_get",
    summary = "Get a workflow",
    params(
        ("workflow_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The workflow's id."),
    ),
    responses(
        (status = 200, description = "The workflow.", body = oa::WorkflowResponse),
        super::openapi::Unauthorized,
        (status = 404, description = "No workflow with this id is visible to the caller (`workflow_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<oa::WorkflowResponse>> {
    let w = service::visible(&state, &caller, &id).await?;
    Ok(workflow_response(&state, &w))
}

/// `PATCH /workflows/{id}`: owners and admins.
#[utoipa::path(
    patch,
    path = "/workflows/{workflow_id}",
    tag = "Workflows",
    operation_id = "workflows_update",
    summary = "Update a workflow",
    description = "Absent fields are left as they are.",
    params(
        ("workflow_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The workflow's id."),
    ),
    request_body(content = oa::WorkflowRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The workflow.", body = oa::WorkflowResponse),
        super::openapi::BodyRefused,
        super::openapi::Unauthorized,
        (status = 403, description = "A budget API key was used; creating and changing workflows needs an access token from POST /auth/login (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No workflow with this id belongs to the caller (`workflow_not_found`).", body = oa::ErrorResponse),
        (status = 409, description = "Another change of the workflow landed first (`workflow_changed`); read it again and retry.", body = oa::ErrorResponse),
        super::openapi::Invalid,
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<oa::WorkflowRequest>,
) -> ApiResult<Json<oa::WorkflowResponse>> {
    require_user_token(&caller, "Creating and changing workflows")?;
    let w = service::update(&state, &caller, &id, changes(body)).await?;
    Ok(workflow_response(&state, &w))
}

/// `PUT /budgets/{budget_id}/workflows/{workflow_id}`.
#[utoipa::path(
    put,
    path = "/budgets/{budget_id}/workflows/{workflow_id}",
    tag = "Budgets",
    operation_id = "workflows_enable",
    summary = "Enable a workflow on a budget",
    description = "Pins the workflow's current version on the budget: runs on the budget execute that version until its owner accepts a newer one (a `workflow_update` approval request, or enabling it again). The workflow's owner always runs the newest version.",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
        ("workflow_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The workflow's id."),
    ),
    responses(
        (status = 200, description = "Enabled.", body = oa::BudgetWorkflowResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such budget (`budget_not_found`) or visible workflow (`workflow_not_found`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path((budget_id, workflow_id)): Path<(String, String)>,
) -> ApiResult<Json<oa::BudgetWorkflowResponse>> {
    let w = service::enable(&state, &caller, &budget_id, &workflow_id).await?;
    Ok(Json(oa::BudgetWorkflowResponse {
        success: true,
        data: oa::BudgetWorkflow {
            budget_id,
            workflow_id: w.id.to_string(),
            enabled: true,
            pinned_version: Some(w.version),
        },
    }))
}

/// `DELETE /budgets/{budget_id}/workflows/{workflow_id}`.
#[utoipa::path(
    delete,
    path = "/budgets/{budget_id}/workflows/{workflow_id}",
    tag = "Budgets",
    operation_id = "workflows_disable",
    summary = "Disable a workflow on a budget",
    params(
        ("budget_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The budget's id."),
        ("workflow_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The workflow's id."),
    ),
    responses(
        (status = 200, description = "Disabled.", body = oa::BudgetWorkflowResponse),
        super::openapi::Unauthorized,
        (status = 403, description = "An API key was used where an access token from POST /auth/login is required (`user_token_required`).", body = oa::ErrorResponse),
        (status = 404, description = "No such budget (`budget_not_found`), or the workflow is not enabled on it (`workflow_not_on_budget`).", body = oa::ErrorResponse),
        super::openapi::Internal,
    ),
    security(("bearer" = [])),
)]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path((budget_id, workflow_id)): Path<(String, String)>,
) -> ApiResult<Json<oa::BudgetWorkflowResponse>> {
    service::disable(&state, &caller, &budget_id, &workflow_id).await?;
    Ok(Json(oa::BudgetWorkflowResponse {
        success: true,
        data: oa::BudgetWorkflow {
            budget_id,
            workflow_id,
            enabled: false,
            pinned_version: None,
        },
    }))
}
