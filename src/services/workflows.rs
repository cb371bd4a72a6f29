//! Workflow definitions: created and changed by their owners signed in,
//! listed with whether each is enabled on the caller's budget, and enabled
//! on a budget at a pinned version. A private workflow is invisible to
//! everyone but its owner (and admins), as if it did not exist.

use serde_json::{Map, Value};

use super::budgets::{self, BudgetError};
use super::quotas::{self, Quota, QuotaExceeded};
use crate::app::AppInner;
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::id::{BudgetId, WorkflowId};
use crate::store::{StoreError, Visibility, WorkflowEngine, WorkflowRow, WorkflowStatus};
use crate::workflows::definition::{parse_graph, DefinitionError};
use crate::workflows::versions;

/// Why a workflow cannot be read, changed or enabled.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// No workflow with the id is visible to the caller.
    #[error("no such workflow")]
    NotFound,
    /// The workflow is visible (public) but not the caller's to change.
    #[error("the workflow is not the caller's")]
    NotOwned,
    /// The definition does not hold for its engine; each error is located
    /// inside the definition.
    #[error("invalid workflow definition")]
    Definition(Vec<DefinitionError>),
    /// Another change landed between this change's read and its write.
    #[error("the workflow was changed by another request")]
    Changed,
    /// The workflow is not enabled on the budget.
    #[error("the workflow is not enabled on the budget")]
    NotOnBudget,
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A workflow's fields to set; absent ones are left as they are. On create,
/// `engine` and `definition` are given.
#[derive(Debug, Clone, Default)]
pub struct WorkflowChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<WorkflowStatus>,
    pub engine: Option<WorkflowEngine>,
    pub definition: Option<Map<String, Value>>,
}

/// A listed workflow, with the version the caller's budget pins (`None`
/// when it is not enabled there).
#[derive(Debug, Clone)]
pub struct Listed {
    pub workflow: WorkflowRow,
    pub pinned_version: Option<i64>,
}

/// Checks a definition for its engine against the catalog.
pub fn validate_definition(
    app: &AppInner,
    engine: WorkflowEngine,
    def: &Value,
) -> Result<(), Vec<DefinitionError>> {
    let snapshot = app.catalog.snapshot();
    match engine {
        WorkflowEngine::Graph => parse_graph(def, &snapshot).map(|_| ()),
        WorkflowEngine::Llm => crate::workflows::llm::parse_definition(def, &snapshot).map(|_| ()),
    }
}

/// Applies `changes` to `w` and checks its definition for its engine.
fn apply(
    app: &AppInner,
    w: &mut WorkflowRow,
    changes: WorkflowChanges,
) -> Result<(), WorkflowError> {
    if let Some(name) = changes.name {
        w.name = name;
    }
    if let Some(description) = changes.description {
        w.description = description;
    }
    if let Some(visibility) = changes.visibility {
        w.visibility = visibility;
    }
    if let Some(status) = changes.status {
        w.status = status;
    }
    if let Some(engine) = changes.engine {
        w.engine = engine;
    }
    let definition = match changes.definition {
        Some(d) => Value::Object(d),
        None => serde_json::from_str(&w.definition).unwrap_or(Value::Null),
    };
    validate_definition(app, w.engine, &definition).map_err(WorkflowError::Definition)?;
    w.definition = definition.to_string();
    Ok(())
}

/// Creates a workflow owned by the caller, within the account's quota.
pub async fn create(
    app: &AppInner,
    caller: &Caller,
    changes: WorkflowChanges,
) -> Result<WorkflowRow, WorkflowError> {
    let now = Timestamp::from(app.clock.now());
    let mut w = WorkflowRow {
        id: WorkflowId::new(),
        owner_id: caller.user_id,
        name: String::new(),
        description: String::new(),
        visibility: Visibility::Private,
        engine: WorkflowEngine::Graph,
        definition: "{}".into(),
        status: WorkflowStatus::Active,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    apply(app, &mut w, changes)?;
    let owned = app.store.count_workflows_owned_by(caller.user_id).await?;
    quotas::check(app, Quota::WorkflowsPerUser, owned)?;
    app.store.insert_workflow(&w).await?;
    Ok(w)
}

/// The workflows the caller can trigger: their own (active or not) and the
/// active public ones, each with the version the caller's budget pins.
pub async fn list(app: &AppInner, caller: &Caller) -> Result<Vec<Listed>, StoreError> {
    let enabled = app.store.budget_workflows(caller.budget_id).await?;
    let rows = app.store.workflows_visible_to(caller.user_id).await?;
    Ok(rows
        .into_iter()
        .filter(|w| w.status == WorkflowStatus::Active || w.owner_id == caller.user_id)
        .map(|workflow| Listed {
            pinned_version: enabled
                .iter()
                .find(|(id, _)| *id == workflow.id)
                .map(|(_, p)| *p),
            workflow,
        })
        .collect())
}

/// The workflow `id` names, when the caller may see it: their own, a
/// public one, or any for an admin.
pub async fn visible(
    app: &AppInner,
    caller: &Caller,
    id: &str,
) -> Result<WorkflowRow, WorkflowError> {
    let id = WorkflowId::parse(id).ok_or(WorkflowError::NotFound)?;
    let w = app
        .store
        .workflow_by_id(id)
        .await?
        .ok_or(WorkflowError::NotFound)?;
    if !caller.may_see(w.owner_id, w.visibility) {
        return Err(WorkflowError::NotFound);
    }
    Ok(w)
}

/// Changes the caller's workflow (any, for an admin). A change of its
/// engine or definition makes a new version; a change that races another
/// is refused whole.
pub async fn update(
    app: &AppInner,
    caller: &Caller,
    id: &str,
    changes: WorkflowChanges,
) -> Result<WorkflowRow, WorkflowError> {
    let mut w = visible(app, caller, id).await?;
    if !caller.may_change(w.owner_id) {
        return Err(WorkflowError::NotOwned);
    }
    let before = w.clone();
    apply(app, &mut w, changes)?;
    w.updated_at = Timestamp::from(app.clock.now());
    if versions::definition_changed(&before, &w) {
        w.version = before.version + 1;
    }
    if !app.store.update_workflow(&w, before.version).await? {
        return Err(WorkflowError::Changed);
    }
    Ok(w)
}

/// Enables a visible workflow on a budget the caller manages, pinning its
/// current version. Answers the workflow as pinned.
pub async fn enable(
    app: &AppInner,
    caller: &Caller,
    budget_id: &str,
    workflow_id: &str,
) -> Result<WorkflowRow, WorkflowError> {
    let budget = managed_budget(app, caller, budget_id).await?;
    let w = visible(app, caller, workflow_id).await?;
    app.store
        .enable_workflow(budget, w.id, w.version, Timestamp::from(app.clock.now()))
        .await?;
    Ok(w)
}

/// Disables a workflow on a budget the caller manages.
pub async fn disable(
    app: &AppInner,
    caller: &Caller,
    budget_id: &str,
    workflow_id: &str,
) -> Result<(), WorkflowError> {
    let budget = managed_budget(app, caller, budget_id).await?;
    let disabled = match WorkflowId::parse(workflow_id) {
        Some(id) => app.store.disable_workflow(budget, id).await?,
        None => false,
    };
    if disabled {
        Ok(())
    } else {
        Err(WorkflowError::NotOnBudget)
    }
}

async fn managed_budget(
    app: &AppInner,
    caller: &Caller,
    budget_id: &str,
) -> Result<BudgetId, WorkflowError> {
    let budget = BudgetId::parse(budget_id).ok_or(BudgetError::NotFound)?;
    budgets::managed(app, caller, budget).await?;
    Ok(budget)
}
