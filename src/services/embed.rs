//! What each embed page offers, read from the catalog and the store for one
//! viewer (usually anonymous: a framed page is loaded without credentials).
//! The embed adapter (`embed::page`) renders the [`Page`] this answers.

use crate::id::{BundleId, UserId, WorkflowId};
use serde_json::{json, Value};

use crate::app::AppInner;
use crate::catalog::Product;
use crate::id::ObjectId;
use crate::store::{StoreError, Visibility, WorkflowRow, WorkflowStatus};

/// Why a page cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The id cannot name anything of this kind.
    #[error("malformed {0} id")]
    Malformed(&'static str),
    /// Nothing of this kind with this id is visible to the viewer.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds pages for one viewer.
pub struct EmbedView<'a> {
    pub state: &'a AppInner,
    /// The signed-in viewer's user id, if the request carried credentials.
    pub viewer: Option<UserId>,
    pub admin: bool,
}

/// A product id as the embed URL may give it: an ObjectId, or a slug or
/// name made of letters, digits, `_` and `-`.
pub fn product_ident(raw: &str) -> Option<String> {
    if ObjectId::is_valid(raw) {
        return Some(raw.to_ascii_lowercase());
    }
    let plain = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plain.then(|| raw.to_string())
}

/// What an embed page shows.
pub struct Page {
    /// `workflow`, `product` or `bundle`.
    pub kind: &'static str,
    pub title: String,
    pub subtitle: String,
    /// Handed to `page.js`: the items the page offers.
    pub config: Value,
}

/// A product as the pages use it: its actions with their schemas and prices.
pub fn product_json(p: &Product) -> Value {
    json!({
        "id": p.row.id,
        "slug": p.row.slug,
        "name": p.row.name,
        "display_name": p.row.display_name,
        "description": p.row.description,
        "actions": p.actions_json(),
    })
}

fn workflow_json(w: &WorkflowRow) -> Value {
    json!({"id": w.id, "name": w.name, "description": w.description})
}

fn display_name(p: &Product) -> String {
    if p.row.display_name.trim().is_empty() {
        p.row.name.clone()
    } else {
        p.row.display_name.clone()
    }
}

impl EmbedView<'_> {
    fn may_see(&self, owner_id: UserId, visibility: Visibility) -> bool {
        visibility == Visibility::Public || self.admin || self.viewer == Some(owner_id)
    }

    async fn visible_workflow(&self, id: WorkflowId) -> Result<Option<WorkflowRow>, StoreError> {
        Ok(self.state.store.workflow_by_id(id).await?.filter(|w| {
            w.status == WorkflowStatus::Active && self.may_see(w.owner_id, w.visibility)
        }))
    }

    fn active_product(&self, ident: &str) -> Option<std::sync::Arc<Product>> {
        self.state
            .catalog
            .snapshot()
            .resolve(ident)
            .map(|(p, _)| p)
            .filter(|p| p.is_active())
    }

    /// The chat page of a workflow: public and active ones (and the
    /// viewer's own).
    pub async fn workflow(&self, raw: &str) -> Result<Page, ViewError> {
        let id = WorkflowId::parse(raw).ok_or(ViewError::Malformed("workflow"))?;
        let w = self
            .visible_workflow(id)
            .await?
            .ok_or(ViewError::NotFound("workflow"))?;
        Ok(Page {
            kind: "workflow",
            title: w.name.clone(),
            subtitle: w.description.clone(),
            config: json!({"kind": "workflow", "workflow": workflow_json(&w)}),
        })
    }

    /// The form page of an active product.
    pub async fn product(&self, raw: &str) -> Result<Page, ViewError> {
        let ident = product_ident(raw).ok_or(ViewError::Malformed("product"))?;
        let p = self
            .active_product(&ident)
            .ok_or(ViewError::NotFound("product"))?;
        Ok(Page {
            kind: "product",
            title: display_name(&p),
            subtitle: p.row.description.clone(),
            config: json!({"kind": "product", "product": product_json(&p)}),
        })
    }

    /// The page of a bundle: its members that are still active and visible.
    pub async fn bundle(&self, raw: &str) -> Result<Page, ViewError> {
        let id = BundleId::parse(raw).ok_or(ViewError::Malformed("bundle"))?;
        let b = self
            .state
            .store
            .bundle_by_id(id)
            .await?
            .filter(|b| self.may_see(b.owner_id, b.visibility))
            .ok_or(ViewError::NotFound("bundle"))?;
        let products: Vec<Value> = b
            .products()
            .iter()
            .filter_map(|p| self.active_product(p))
            .map(|p| product_json(&p))
            .collect();
        let mut workflows = Vec::new();
        for wid in b.workflows().iter().filter_map(|id| WorkflowId::parse(id)) {
            if let Some(w) = self.visible_workflow(wid).await? {
                workflows.push(workflow_json(&w));
            }
        }
        Ok(Page {
            kind: "bundle",
            title: b.name.clone(),
            subtitle: b.description.clone(),
            config: json!({"kind": "bundle", "bundle": {
                "id": b.id, "name": b.name, "description": b.description,
                "products": products, "workflows": workflows,
            }}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::product_ident;

    #[test]
    fn product_idents_are_ids_slugs_or_plain_names() {
        assert_eq!(
            product_ident("65A1B2C3D4E5F60718293A4B").as_deref(),
            Some("65a1b2c3d4e5f60718293a4b")
        );
        assert_eq!(product_ident("text_utils").as_deref(), Some("text_utils"));
        assert_eq!(product_ident("calculator").as_deref(), Some("calculator"));
        assert!(product_ident("").is_none());
        assert!(product_ident("<script>").is_none());
        assert!(product_ident("a b").is_none());
        assert!(product_ident(&"x".repeat(65)).is_none());
    }
}
