//! Rows and storage of bundles: named sets of products and workflows.

use crate::clock::Timestamp;
use crate::id::BundleId;
use crate::id::UserId;
use async_trait::async_trait;

use super::{StoreResult, Visibility};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BundleRow {
    pub id: BundleId,
    pub owner_id: UserId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    /// JSON array of product ids, in the owner's order.
    pub product_ids: String,
    /// JSON array of workflow ids, in the owner's order.
    pub workflow_ids: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl BundleRow {
    /// The product ids as a list.
    pub fn products(&self) -> Vec<String> {
        serde_json::from_str(&self.product_ids).unwrap_or_default()
    }

    /// The workflow ids as a list.
    pub fn workflows(&self) -> Vec<String> {
        serde_json::from_str(&self.workflow_ids).unwrap_or_default()
    }
}

#[async_trait]
pub trait BundleStore: Send + Sync {
    async fn insert_bundle(&self, b: &BundleRow) -> StoreResult<()>;
    /// How many bundles a user owns.
    async fn count_bundles_owned_by(&self, owner_id: UserId) -> StoreResult<i64>;
    async fn update_bundle(&self, b: &BundleRow) -> StoreResult<()>;
    async fn bundle_by_id(&self, id: BundleId) -> StoreResult<Option<BundleRow>>;
    /// The user's own bundles and every public one.
    async fn bundles_visible_to(&self, user_id: UserId) -> StoreResult<Vec<BundleRow>>;
}
