//! Which products and workflows a bundle may hold.

use crate::app::AppInner;
use crate::id::{UserId, WorkflowId};
use crate::store::{StoreError, Visibility};

use super::view::product_ident;

/// Most members of each kind one bundle holds.
pub const MAX_MEMBERS: usize = 100;

/// Why a bundle's members were refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// `(field, index, message)` for each member that cannot be added.
    #[error("invalid bundle members")]
    Invalid(Vec<(&'static str, usize, String)>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves the members an owner asks for to canonical ids, in order and
/// without repeats: products by id, slug or name (active ones); workflows by
/// id, the owner's own or public ones.
pub async fn resolve_members(
    state: &AppInner,
    owner_id: UserId,
    product_idents: &[String],
    workflow_ids: &[String],
) -> Result<(Vec<String>, Vec<String>), BundleError> {
    let mut errors = Vec::new();
    let snapshot = state.catalog.snapshot();
    let mut products: Vec<String> = Vec::new();
    for (i, raw) in product_idents.iter().enumerate() {
        match product_ident(raw).and_then(|id| snapshot.resolve(&id)) {
            Some((p, _)) if p.is_active() => {
                let id = p.row.id.to_string();
                if !products.contains(&id) {
                    products.push(id);
                }
            }
            _ => errors.push(("product_ids", i, format!("no active product {raw:?}"))),
        }
    }
    let mut workflows: Vec<String> = Vec::new();
    for (i, raw) in workflow_ids.iter().enumerate() {
        let found = match WorkflowId::parse(raw) {
            Some(id) => state
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
            None => errors.push((
                "workflow_ids",
                i,
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
