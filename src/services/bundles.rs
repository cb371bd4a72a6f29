//! Bundles: named sets of products and workflows that their owners offer
//! together, mainly through the embed widget. A private bundle is
//! invisible to everyone but its owner (and admins), as if it did not
//! exist.

use serde_json::json;

use super::embed::product_ident;
use super::quotas::{self, Quota, QuotaExceeded};
use crate::app::AppInner;
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::id::{BundleId, UserId, WorkflowId};
use crate::store::{BundleRow, StoreError, Visibility};

/// Most members of each kind one bundle holds.
pub const MAX_MEMBERS: usize = 100;

/// A member a bundle cannot hold.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidMember {
    /// `product_ids` or `workflow_ids`.
    pub field: &'static str,
    /// Its place in the list.
    pub index: usize,
    /// The member as it was given.
    pub input: String,
    pub message: String,
}

/// Why a bundle cannot be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// No bundle with the id is visible to the caller.
    #[error("no such bundle")]
    NotFound,
    /// The bundle is visible (public) but not the caller's to change.
    #[error("the bundle is not the caller's")]
    NotOwned,
    /// Members that do not exist or that the owner may not offer.
    #[error("invalid bundle members")]
    Invalid(Vec<InvalidMember>),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A bundle's fields to set; absent ones are left as they are.
#[derive(Debug, Clone, Default)]
pub struct BundleChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// Products by id, slug or name.
    pub product_ids: Option<Vec<String>>,
    pub workflow_ids: Option<Vec<String>>,
}

/// Creates a bundle owned by the caller, within the account's quota.
pub async fn create(
    app: &AppInner,
    caller: &Caller,
    changes: BundleChanges,
) -> Result<BundleRow, BundleError> {
    let now = Timestamp::from(app.clock.now());
    let mut b = BundleRow {
        id: BundleId::new(),
        owner_id: caller.user_id,
        name: String::new(),
        description: String::new(),
        visibility: Visibility::Private,
        product_ids: "[]".into(),
        workflow_ids: "[]".into(),
        created_at: now,
        updated_at: now,
    };
    apply(app, &mut b, changes).await?;
    let owned = app.store.count_bundles_owned_by(caller.user_id).await?;
    quotas::check(app, Quota::BundlesPerUser, owned)?;
    app.store.insert_bundle(&b).await?;
    Ok(b)
}

/// The caller's own bundles and every public one.
pub async fn list(app: &AppInner, caller: &Caller) -> Result<Vec<BundleRow>, StoreError> {
    app.store.bundles_visible_to(caller.user_id).await
}

/// The bundle `id` names, when the caller may see it.
pub async fn visible(app: &AppInner, caller: &Caller, id: &str) -> Result<BundleRow, BundleError> {
    let id = BundleId::parse(id).ok_or(BundleError::NotFound)?;
    let b = app
        .store
        .bundle_by_id(id)
        .await?
        .ok_or(BundleError::NotFound)?;
    if !caller.may_see(b.owner_id, b.visibility) {
        return Err(BundleError::NotFound);
    }
    Ok(b)
}

/// Changes the caller's bundle (any, for an admin).
pub async fn update(
    app: &AppInner,
    caller: &Caller,
    id: &str,
    changes: BundleChanges,
) -> Result<BundleRow, BundleError> {
    let mut b = visible(app, caller, id).await?;
    if !caller.may_change(b.owner_id) {
        return Err(BundleError::NotOwned);
    }
    apply(app, &mut b, changes).await?;
    b.updated_at = Timestamp::from(app.clock.now());
    app.store.update_bundle(&b).await?;
    Ok(b)
}

/// Applies `changes` to `b`, checking that every member exists and may be
/// offered by the bundle's owner.
async fn apply(
    app: &AppInner,
    b: &mut BundleRow,
    changes: BundleChanges,
) -> Result<(), BundleError> {
    if let Some(name) = changes.name {
        b.name = name;
    }
    if let Some(description) = changes.description {
        b.description = description;
    }
    if let Some(visibility) = changes.visibility {
        b.visibility = visibility;
    }
    let products = changes.product_ids.unwrap_or_else(|| b.products());
    let workflows = changes.workflow_ids.unwrap_or_else(|| b.workflows());
    let (products, workflows) = resolve_members(app, b.owner_id, &products, &workflows).await?;
    b.product_ids = json!(products).to_string();
    b.workflow_ids = json!(workflows).to_string();
    Ok(())
}

/// Resolves the members an owner asks for to canonical ids, in order and
/// without repeats: products by id, slug or name (active ones); workflows by
/// id, the owner's own or public ones.
async fn resolve_members(
    app: &AppInner,
    owner_id: UserId,
    product_idents: &[String],
    workflow_ids: &[String],
) -> Result<(Vec<String>, Vec<String>), BundleError> {
    let mut errors = Vec::new();
    let invalid = |field, index, input: &String, message| InvalidMember {
        field,
        index,
        input: input.clone(),
        message,
    };
    let snapshot = app.catalog.snapshot();
    let mut products: Vec<String> = Vec::new();
    for (i, raw) in product_idents.iter().enumerate() {
        match product_ident(raw).and_then(|id| snapshot.resolve(&id)) {
            Some((p, _)) if p.is_active() => {
                let id = p.row.id.to_string();
                if !products.contains(&id) {
                    products.push(id);
                }
            }
            _ => errors.push(invalid(
                "product_ids",
                i,
                raw,
                format!("no active product {raw:?}"),
            )),
        }
    }
    let mut workflows: Vec<String> = Vec::new();
    for (i, raw) in workflow_ids.iter().enumerate() {
        let found = match WorkflowId::parse(raw) {
            Some(id) => app
                .store
                .workflow_by_id(id)
                .await?
                .filter(|w| w.owner_id == owner_id || w.visibility == Visibility::Public),
            None => None,
        };
        match found {
            Some(w) => {
                let id = w.id.to_string();
                if !workflows.contains(&id) {
                    workflows.push(id);
                }
            }
            None => errors.push(invalid(
                "workflow_ids",
                i,
                raw,
                format!("no workflow {raw:?} is visible to you"),
            )),
        }
    }
    if errors.is_empty() {
        Ok((products, workflows))
    } else {
        Err(BundleError::Invalid(errors))
    }
}
