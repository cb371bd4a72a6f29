//! Rows and storage of the catalog: products, and which a budget may buy.

use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::id::{BudgetId, UserId};
use async_trait::async_trait;

use super::{BudgetRow, StoreResult};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProductRow {
    pub id: ProductId,
    pub slug: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub category: String,
    pub vendor_id: Option<UserId>,
    pub kind: ProductKind,
    pub endpoint: Option<String>,
    /// JSON array of `{name, location, field}`.
    pub required_credentials: String,
    /// JSON array of `{name, description, parameters, price_credits}`.
    pub actions: String,
    pub status: ProductStatus,
    pub timeout_ms: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a product's calls go: a tool of the server's own, or a vendor's
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductKind {
    Builtin,
    Http,
}

super::names::stored_names!(ProductKind, "product kind", {
    Builtin => "builtin",
    Http => "http",
});

/// Whether a product may be bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductStatus {
    Active,
    Disabled,
}

super::names::stored_names!(ProductStatus, "product status", {
    Active => "active",
    Disabled => "disabled",
});

/// A budget and whether one product is enabled on it, in one read.
#[derive(Debug, Clone)]
pub struct BudgetAccess {
    pub budget: BudgetRow,
    pub enabled: bool,
}

/// Products, and which products a budget may buy at which prices.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Inserts a builtin product or refreshes it by slug; returns its id.
    async fn upsert_builtin_product(&self, p: &ProductRow) -> StoreResult<String>;
    async fn insert_product(&self, p: &ProductRow) -> StoreResult<()>;
    async fn update_product(&self, p: &ProductRow) -> StoreResult<()>;
    async fn products(&self) -> StoreResult<Vec<ProductRow>>;
    /// Changes whenever any product does; cheap to poll.
    async fn catalog_version(&self) -> StoreResult<(i64, i64)>;
    async fn budget_product_ids(&self, budget_id: BudgetId) -> StoreResult<Vec<ProductId>>;
    /// Enables a product, recording the prices (a JSON object by action) the
    /// owner agreed to.
    async fn enable_product(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
        agreed_prices: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Enabled products with the prices agreed to (`None` on older rows).
    async fn budget_products_with_prices(
        &self,
        budget_id: BudgetId,
    ) -> StoreResult<Vec<(ProductId, Option<String>)>>;
    /// Records the prices agreed to where none are yet.
    async fn record_agreed_prices(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
        agreed_prices: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn disable_product(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
    ) -> StoreResult<bool>;
    async fn budget_access(
        &self,
        budget_id: BudgetId,
        product_id: ProductId,
    ) -> StoreResult<Option<BudgetAccess>>;
}
