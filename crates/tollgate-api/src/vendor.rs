//! Wire types: vendor.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ActiveStatus, Object};

/// The kind of tool a vendor publishes: builtin tools ship in the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishedKind {
    Http,
}
/// A published tool, as its vendor sees it.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct VendorProduct {
    pub product_id: String,
    pub slug: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub category: String,
    /// `http` or `builtin`.
    pub kind: String,
    /// The HTTPS endpoint an `http` tool is called at.
    pub endpoint: Option<String>,
    /// Credentials callers must store: `{name, location, field}` objects.
    pub required_credentials: Vec<Object>,
    /// Actions: `{name, description, parameters, price_credits}` objects.
    pub actions: Vec<Object>,
    /// `active` or `disabled`.
    pub status: String,
    pub timeout_ms: Option<i64>,
    pub vendor_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A tool's definition. On create `slug`, `name`, `display_name`, `endpoint`
/// and `actions` are required; on update every field is optional, and only
/// `status` of a builtin tool may change.
#[derive(Debug, Clone, Default, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct VendorProductRequest {
    /// 1 to 64 lower-case letters, digits and hyphens, neither first nor last.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: Option<String>,
    /// 1 to 64 characters of a-z, A-Z, 0-9, `_` or `-`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub name: Option<String>,
    /// 1 to 200 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// Up to 4000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// Up to 64 characters.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub category: Option<String>,
    /// Only `http`.
    #[serde(default)]
    pub kind: Option<PublishedKind>,
    /// The public HTTPS URL the tool is called at, up to 2048 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 2048)]
    pub endpoint: Option<String>,
    /// `active` or `disabled`.
    #[serde(default)]
    pub status: Option<ActiveStatus>,
    /// 100 to 120000.
    #[serde(default)]
    #[schema(minimum = 100, maximum = 120000)]
    pub timeout_ms: Option<i64>,
    /// Up to 32 `{name, location, field}` objects; null clears them.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub required_credentials: Option<Vec<Object>>,
    /// 1 to 100 `{name, description, parameters, price_credits}` objects.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    pub actions: Option<Vec<Object>>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct VendorProductResponse {
    pub success: bool,
    pub data: VendorProduct,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct VendorProductList {
    pub products: Vec<VendorProduct>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct VendorProductListResponse {
    pub success: bool,
    pub data: VendorProductList,
}
