//! Rows and storage of workflows, runs, step results, chat sessions,
//! webhook secrets and callback deliveries.

use crate::clock::Timestamp;
use crate::id::{BudgetId, UserId};
use crate::id::{DeliveryId, OrderId};
use crate::id::{RunId, WorkflowId};
use async_trait::async_trait;

use crate::money::Credits;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkflowRow {
    pub id: WorkflowId,
    pub owner_id: UserId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub engine: WorkflowEngine,
    /// The engine's definition, JSON.
    pub definition: String,
    pub status: WorkflowStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Counts changes of `engine` and `definition`, from 1.
    pub version: i64,
}

/// Whether a workflow may be run: its owner may disable it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkflowStatus {
    Active,
    Disabled,
}

super::names::stored_names!(WorkflowStatus, "workflow status", {
    Active => "active",
    Disabled => "disabled",
});

/// What runs a workflow's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkflowEngine {
    /// A graph of tool calls.
    Graph,
    /// A model that calls the budget's tools.
    Llm,
}

super::names::stored_names!(WorkflowEngine, "workflow engine", {
    Graph => "graph",
    Llm => "llm",
});

/// Who may see a workflow or a bundle: its owner alone, or everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Private,
    Public,
}

super::names::stored_names!(Visibility, "visibility", {
    Private => "private",
    Public => "public",
});

/// One version of a workflow's engine and definition, as it was made.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkflowVersionRow {
    pub workflow_id: WorkflowId,
    pub version: i64,
    pub engine: WorkflowEngine,
    pub definition: String,
    pub created_at: Timestamp,
}

/// Where a run is: queued, then running under a worker's lease, then
/// finished one of three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

super::names::stored_names!(RunStatus, "run status", {
    Queued => "queued",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Cancelled => "cancelled",
});

impl RunStatus {
    /// Whether the run has ended and will not change again.
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// Where a run's callback is: a run without a callback URL skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackStatus {
    Pending,
    Delivered,
    Failed,
    Skipped,
}

super::names::stored_names!(CallbackStatus, "callback status", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
    Skipped => "skipped",
});

/// Where one callback delivery is: pending until it is delivered or its
/// attempts run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

super::names::stored_names!(DeliveryStatus, "delivery status", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

impl From<DeliveryStatus> for CallbackStatus {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => CallbackStatus::Pending,
            DeliveryStatus::Delivered => CallbackStatus::Delivered,
            DeliveryStatus::Failed => CallbackStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunRow {
    pub id: RunId,
    pub workflow_id: WorkflowId,
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub request_id: Option<String>,
    pub prompt: String,
    pub status: RunStatus,
    pub response_text: Option<String>,
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub callback_url: Option<String>,
    pub callback_status: CallbackStatus,
    pub callback_last_status: Option<i64>,
    pub callback_last_error: Option<String>,
    pub callback_attempted_at: Option<Timestamp>,
    pub callback_delivered_at: Option<Timestamp>,
    pub callback_attempts: i64,
    pub request_metadata: String,
    pub run_metadata: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub attempts: i64,
    pub cancel_requested: bool,
    /// The workflow version the run executes; `None` for runs queued before
    /// workflows had versions, which run the current definition.
    pub workflow_version: Option<i64>,
}

/// How a run ended, written by the worker that holds its lease.
#[derive(Debug, Clone)]
pub struct RunFinish {
    pub run_id: RunId,
    pub lease_owner: String,
    /// `Succeeded`, `Failed` or `Cancelled`.
    pub status: RunStatus,
    pub response_text: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub model: Option<String>,
    pub session_id: Option<String>,
    pub run_metadata: String,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunStepRow {
    pub run_id: RunId,
    pub step_key: String,
    /// The step's output, JSON.
    pub output: String,
    pub order_id: Option<OrderId>,
    pub credits: Credits,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub run_id: RunId,
    pub user_id: UserId,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub lease_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The result of one delivery attempt, written to the delivery and its run.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub delivery_id: DeliveryId,
    pub run_id: RunId,
    /// `Delivered`, `Pending` (will retry) or `Failed` (gave up).
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: Timestamp,
}

/// Workflows, their versions, and which budgets enable them.
#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Inserts a workflow and its version `w.version`.
    async fn insert_workflow(&self, w: &WorkflowRow) -> StoreResult<()>;
    /// How many workflows a user owns, whatever their status.
    async fn count_workflows_owned_by(&self, owner_id: UserId) -> StoreResult<i64>;
    /// Writes `w` over the workflow if it is still at version `read_version`,
    /// keeping version `w.version` when that is a new one; false when another
    /// change came first.
    async fn update_workflow(&self, w: &WorkflowRow, read_version: i64) -> StoreResult<bool>;
    async fn workflow_by_id(&self, id: WorkflowId) -> StoreResult<Option<WorkflowRow>>;
    async fn workflow_version(
        &self,
        workflow_id: WorkflowId,
        version: i64,
    ) -> StoreResult<Option<WorkflowVersionRow>>;
    /// The user's own workflows and every public one.
    async fn workflows_visible_to(&self, user_id: UserId) -> StoreResult<Vec<WorkflowRow>>;
    /// Enables a workflow on a budget pinned to `version`; enabling it again
    /// moves the pin to `version`.
    async fn enable_workflow(
        &self,
        budget_id: BudgetId,
        workflow_id: WorkflowId,
        version: i64,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Moves an enablement's pin forward to `version`; false when the
    /// workflow is not enabled on the budget or already pinned as far.
    async fn pin_workflow_version(
        &self,
        budget_id: BudgetId,
        workflow_id: WorkflowId,
        version: i64,
    ) -> StoreResult<bool>;
    async fn disable_workflow(
        &self,
        budget_id: BudgetId,
        workflow_id: WorkflowId,
    ) -> StoreResult<bool>;
    /// The workflows enabled on a budget, each with its pinned version.
    async fn budget_workflows(&self, budget_id: BudgetId) -> StoreResult<Vec<(WorkflowId, i64)>>;
}

/// Runs: the queue, leases, step results, model calls and chat sessions.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts a queued run; `Conflict` when its request id was used.
    async fn insert_run(&self, r: &RunRow) -> StoreResult<()>;
    async fn run_by_id(&self, id: RunId) -> StoreResult<Option<RunRow>>;
    async fn run_by_request(
        &self,
        user_id: UserId,
        workflow_id: WorkflowId,
        request_id: &str,
    ) -> StoreResult<Option<RunRow>>;
    /// Records one model call of an LLM run.
    async fn record_model_call(
        &self,
        id: &str,
        user_id: UserId,
        run_id: RunId,
        model: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// A user's model calls made after `since`.
    async fn count_model_calls(&self, user_id: UserId, since: Timestamp) -> StoreResult<i64>;
    /// Runs of a user waiting in the queue.
    async fn count_queued_runs(&self, user_id: UserId) -> StoreResult<i64>;
    /// Takes a queued run, or a running one whose lease expired (its worker
    /// died), under a lease until `lease_until`. Fair across users: runs of
    /// users with `max_running_per_user` live runs are skipped, and among
    /// the rest the user with the fewest live runs goes first, then the
    /// oldest run.
    async fn claim_run(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: i64,
        max_running_per_user: i64,
    ) -> StoreResult<Option<RunRow>>;
    /// Extends a lease still held by `owner`; false when it was lost.
    async fn extend_lease(&self, run_id: RunId, owner: &str, until: Timestamp)
        -> StoreResult<bool>;
    async fn save_run_progress(
        &self,
        run_id: RunId,
        owner: &str,
        run_metadata: &str,
        session_id: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Ends a run held by `f.lease_owner`, queueing `delivery` with it in
    /// the same transaction; false when the lease was lost.
    async fn finish_run(&self, f: &RunFinish, delivery: Option<&DeliveryRow>) -> StoreResult<bool>;
    /// Cancels a queued run at once (queueing `delivery`), or asks a running
    /// one to stop at its next step. Returns the run afterwards.
    async fn cancel_run(
        &self,
        run_id: RunId,
        now: Timestamp,
        delivery: Option<&DeliveryRow>,
    ) -> StoreResult<Option<RunRow>>;
    async fn step_result(&self, run_id: RunId, step_key: &str) -> StoreResult<Option<RunStepRow>>;
    async fn record_step(&self, s: &RunStepRow) -> StoreResult<()>;
    async fn session_messages(&self, session_id: &str, user_id: UserId)
        -> StoreResult<Vec<String>>;
    async fn append_session_messages(
        &self,
        session_id: &str,
        user_id: UserId,
        messages: &[String],
        now: Timestamp,
    ) -> StoreResult<()>;
}

/// Callback deliveries and the webhook signing secrets they are signed with.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn webhook_secret(&self, user_id: UserId) -> StoreResult<Option<String>>;
    /// Stores a first secret unless the user already has one (another node's).
    async fn insert_webhook_secret(
        &self,
        user_id: UserId,
        sealed: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn set_webhook_secret(
        &self,
        user_id: UserId,
        sealed: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Runs waiting in the queue, and callbacks not yet delivered or given up.
    async fn queue_depths(&self) -> StoreResult<(i64, i64)>;
    /// Takes a due pending delivery under a lease.
    async fn claim_delivery(
        &self,
        now: Timestamp,
        lease_until: i64,
    ) -> StoreResult<Option<DeliveryRow>>;
    async fn record_delivery_attempt(&self, a: &DeliveryAttempt) -> StoreResult<()>;
}
