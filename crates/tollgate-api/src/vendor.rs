//! Wire types: vendor.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Object;
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
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct VendorProductRequest {
    /// Lower-case letters, digits and single hyphens; 1 to 64 characters.
    #[serde(default)]
    pub slug: Option<String>,
    /// 1 to 64 characters of a-z, A-Z, 0-9, `_` or `-`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// Only `http`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `active` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// 100 to 120000.
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub required_credentials: Option<Vec<Object>>,
    #[serde(default)]
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
