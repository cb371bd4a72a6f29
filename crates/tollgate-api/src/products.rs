//! Wire types: products.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Object;
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchDetails {
    /// Number of tools included in this page of results.
    pub tools_on_this_page: i64,
    /// Total number of tools accessible to the caller (across all pages).
    pub total_qualified_tools: i64,
    /// Page index returned (1-based).
    pub page_returned: i64,
    /// Requested page size.
    pub page_size_requested: i64,
    /// `header` when the caller supplied `X-Page`; `query` otherwise.
    pub page_source: String,
    /// `header` when the caller supplied `X-Page-Size`; `query` otherwise.
    pub page_size_source: String,
    /// Total number of pages available.
    pub total_pages: i64,
    /// True when another page exists after this one.
    pub has_next_page: bool,
    /// True when a page exists before this one.
    pub has_previous_page: bool,
}

/// One action of a tool.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ToolAction {
    /// The value of `parameters.action` that selects it.
    pub name: String,
    pub description: String,
    /// A JSON Schema of the action's parameters.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// What a successful call costs, in credits.
    pub price_credits: i64,
}

/// Loose representation of a tool/product entry returned by /products/fetch.
///
/// The full tool schema is product-specific; only the identifier, display
/// label, and action metadata are stable across the catalog. Additional
/// product-declared fields are passed through unchanged.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchTool {
    /// Tool ObjectId as a string.
    #[serde(default)]
    pub product_id: String,
    /// Tool function name used when invoking the tool.
    #[serde(default)]
    pub name: String,
    /// Human-readable product name.
    #[serde(default)]
    pub display_name: String,
    /// Short description of what the tool does.
    #[serde(default)]
    pub description: String,
    /// URL-safe identifier, also accepted as `product_id`.
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub category: String,
    /// `builtin` or `http`.
    #[serde(default)]
    pub kind: String,
    /// The price of the cheapest action, in credits.
    #[serde(default)]
    pub price_credits: i64,
    #[serde(default)]
    pub actions: Vec<ToolAction>,
    /// Names of the credentials the caller must store before calling it.
    #[serde(default)]
    pub required_credentials: Vec<String>,
    /// An OpenAI-style function definition of the tool, with an `action` selector.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub function: Value,
}

/// Canonical pagination descriptor (matches the `details` block).
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchPagination {
    /// Page index returned (1-based).
    pub page: i64,
    /// Page size used to compute this response.
    pub page_size: i64,
    /// Total number of items across all pages.
    pub total_count: i64,
    /// Total number of pages available.
    pub total_pages: i64,
    /// True when another page exists after this one.
    pub has_next: bool,
    /// True when a page exists before this one.
    pub has_prev: bool,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ProductsFetchResponse {
    /// `true` when the catalog was fetched successfully.
    #[serde(default)]
    pub success: bool,
    /// Connection instance ID the caller can persist and echo back via the `x-instance-id` header on subsequent calls to keep per-session context.
    #[serde(default)]
    pub instance_id: String,
    pub details: ProductsFetchDetails,
    /// Human-readable preamble generated for downstream LLM callers. Changes based on whether any tools matched.
    pub preprompt: String,
    /// Tools available to the caller on this page.
    pub tools: Vec<ProductsFetchTool>,
    pub pagination: ProductsFetchPagination,
    /// Illustrative curl command showing how to invoke one of the returned tools (null when the page has none).
    #[serde(default)]
    pub example_tool_call: Option<String>,
}

/// Purchase-and-invoke request envelope. The `parameters` field is tool-specific; retrieve the declared action schema from `GET /products/fetch` or the product's marketplace page.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct PurchaseRequest {
    /// The ID of the tool (product) to purchase and invoke. Its slug or name is accepted too, and `name` may be sent in place of `product_id`.
    #[schema(min_length = 1, max_length = 200)]
    pub product_id: String,
    /// Action-specific parameters. The shape depends on the product's declared action schema; `action` selects the action.
    #[serde(default)]
    pub parameters: Option<Object>,
    /// Refuse the call (409 `price_above_max`, nothing charged) if it costs more credits than this.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub max_price_credits: Option<i64>,
}

/// The result of a charged tool call.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct PurchaseResponse {
    #[serde(default)]
    pub success: bool,
    /// Tool-specific response payload returned by the product.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    /// Identifier for the purchase/order that was created.
    #[serde(default)]
    pub order_id: String,
    /// Connection instance the caller can pass back via `x-instance-id` to persist state across calls.
    #[serde(default)]
    pub instance_id: String,
    /// The id of the tool that was called.
    pub product_id: String,
    /// The action that was called.
    pub action: String,
    /// What the call cost, in credits.
    pub price_credits: i64,
}
