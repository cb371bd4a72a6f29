//! Wire types: bundles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Visibility;

/// A named set of tools and workflows, embeddable as one widget.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Bundle {
    pub bundle_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
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
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Up to 4000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Up to 100 tool ids, slugs or names.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub product_ids: Option<Vec<String>>,
    /// Up to 100 workflow ids.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub workflow_ids: Option<Vec<String>>,
}

/// A new bundle: `name` is required.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct NewBundleRequest {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Up to 4000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    /// `private` (default) or `public`.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Up to 100 tool ids, slugs or names.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub product_ids: Option<Vec<String>>,
    /// Up to 100 workflow ids.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub workflow_ids: Option<Vec<String>>,
}

impl From<NewBundleRequest> for BundleRequest {
    fn from(b: NewBundleRequest) -> Self {
        BundleRequest {
            name: Some(b.name),
            description: b.description,
            visibility: b.visibility,
            product_ids: b.product_ids,
            workflow_ids: b.workflow_ids,
        }
    }
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
