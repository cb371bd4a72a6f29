//! Approval requests: what a blocked agent asks its budget's owner for.
//! The purchase path, the workflow trigger and the graph engine open them
//! (`app::approvals::open`, re-exported here); the owner lists them and
//! approves or denies each open one.

pub use crate::app::approvals::{open, NewApproval};
pub use crate::store::ApprovalKind;

use crate::app::AppInner;
use crate::auth::Caller;
use crate::cache;
use crate::clock::{to_millis, Timestamp};
use crate::id::{ProductId, WorkflowId};
use crate::store::{ApprovalRow, ApprovalStatus, StoreError};
use crate::workflows::versions;

/// How many requests a listing shows.
const LIST_LIMIT: i64 = 200;

/// Why a request cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No request with this id is the caller's (or, for an API key, its budget's).
    #[error("no such approval request")]
    NotFound,
    /// An API key may see its budget's requests but not resolve them:
    /// agents must not approve their own requests.
    #[error("resolving a request needs the owner's access token")]
    UserTokenRequired,
    /// The request was resolved already.
    #[error("the request was already resolved")]
    Closed,
    /// The tool a request asks to enable no longer exists.
    #[error("the tool no longer exists")]
    ProductGone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The caller's requests, newest first: with an access token every
/// budget's, with an API key only its budget's.
pub async fn list(app: &AppInner, caller: &Caller) -> Result<Vec<ApprovalRow>, StoreError> {
    app.store
        .approvals_for_user(caller.user_id, caller.key_budget(), LIST_LIMIT)
        .await
}

/// Does what request `id` asked (enabling a tool or a workflow on the
/// budget, or accepting a workflow's newer version) and closes it.
pub async fn approve(
    app: &AppInner,
    caller: &Caller,
    id: &str,
) -> Result<ApprovalRow, ApprovalError> {
    let a = own_open(app, caller, id).await?;
    let now = Timestamp::from(app.clock.now());
    match a.kind {
        // Approving agrees to the product's prices of now.
        ApprovalKind::EnableProduct | ApprovalKind::PriceIncrease => {
            let product = ProductId::parse(&a.subject_id).ok_or(ApprovalError::ProductGone)?;
            let prices = app
                .catalog
                .snapshot()
                .by_id(product)
                .map(|p| p.prices_json())
                .ok_or(ApprovalError::ProductGone)?;
            app.store
                .enable_product(a.budget_id, product, &prices, now)
                .await?;
            app.caches
                .invalidate(cache::kind::BUDGET, &a.budget_id.to_string());
        }
        ApprovalKind::EnableWorkflow => {
            // Enabling pins the version current now.
            let workflow = WorkflowId::parse(&a.subject_id);
            if let Some(w) = match workflow {
                Some(id) => app.store.workflow_by_id(id).await?,
                None => None,
            } {
                app.store
                    .enable_workflow(a.budget_id, w.id, w.version, now)
                    .await?
            }
        }
        ApprovalKind::WorkflowUpdate => {
            // Moves the pin forward to the version the request named, never back.
            if let Some((workflow_id, version)) = versions::parse_update_subject(&a.subject_id) {
                app.store
                    .pin_workflow_version(a.budget_id, workflow_id, version)
                    .await?;
            }
        }
        // Stored credentials close these; approving only closes the request.
        ApprovalKind::Credential | ApprovalKind::WorkflowHuman => {}
    }
    resolve(app, &a, ApprovalStatus::Approved, now.millis()).await
}

/// Closes request `id` as denied.
pub async fn deny(app: &AppInner, caller: &Caller, id: &str) -> Result<ApprovalRow, ApprovalError> {
    let a = own_open(app, caller, id).await?;
    resolve(app, &a, ApprovalStatus::Denied, to_millis(app.clock.now())).await
}

/// The open request `id` of the caller's, for its owner to resolve.
async fn own_open(app: &AppInner, caller: &Caller, id: &str) -> Result<ApprovalRow, ApprovalError> {
    let a = app
        .store
        .approval_by_id(id)
        .await?
        .ok_or(ApprovalError::NotFound)?;
    if a.user_id != caller.user_id || !caller.sees_budget(a.budget_id) {
        return Err(ApprovalError::NotFound);
    }
    if caller.api_key_id.is_some() {
        return Err(ApprovalError::UserTokenRequired);
    }
    if a.status != ApprovalStatus::Open {
        return Err(ApprovalError::Closed);
    }
    Ok(a)
}

/// Closes `a` with `status`, and reads it back.
async fn resolve(
    app: &AppInner,
    a: &ApprovalRow,
    status: ApprovalStatus,
    now: i64,
) -> Result<ApprovalRow, ApprovalError> {
    app.store
        .resolve_approval(&a.id.to_string(), status, Timestamp::from_millis(now))
        .await?;
    app.store
        .approval_by_id(&a.id.to_string())
        .await?
        .ok_or(ApprovalError::Store(StoreError::NotFound))
}
