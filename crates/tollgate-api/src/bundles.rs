//! Wire types: bundles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A named set of tools and workflows, embeddable as one widget.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Bundle {
    pub bundle_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    /// `private` or `public`.
    pub visibility: String,
    pub product_ids: Vec<String>,
    pub workflow_ids: Vec<String>,
    /// The widget page of the bundle.
    pub embed_url: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A bundle's settings. On create `name` is required; on update every field
/// is optional.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BundleRequest {
    /// 1 to 200 characters.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// Tool ids, slugs or names.
    #[serde(default)]
    pub product_ids: Option<Vec<String>>,
    #[serde(default)]
    pub workflow_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BundleResponse {
    pub success: bool,
    pub data: Bundle,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BundleList {
    pub bundles: Vec<Bundle>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BundleListResponse {
    pub success: bool,
    pub data: BundleList,
}
