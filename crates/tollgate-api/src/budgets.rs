//! Wire types: budgets.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Spending caps, in credits; null means no cap.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetCaps {
    pub per_call: Option<i64>,
    pub hourly: Option<i64>,
    pub daily: Option<i64>,
    pub weekly: Option<i64>,
    pub monthly: Option<i64>,
    pub total: Option<i64>,
}

/// A budget (agent group): its policy and enabled tools.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Budget {
    pub id: String,
    pub name: String,
    /// `active` or `paused`.
    pub status: String,
    pub is_default: bool,
    pub caps: BudgetCaps,
    /// Tools enabled on the budget.
    pub product_ids: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetStatus {
    Active,
    Paused,
}

impl BudgetStatus {
    /// The stored and answered name.
    pub fn as_str(&self) -> &'static str {
        match self {
            BudgetStatus::Active => "active",
            BudgetStatus::Paused => "paused",
        }
    }
}

/// A budget's settings; absent fields are left as they are. In `caps`, a
/// whole number of credits (0 or more) sets a cap and null clears it.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetRequest {
    /// 1 to 100 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<BudgetStatus>,
    #[serde(default)]
    pub caps: Option<BudgetCapsRequest>,
}

/// Caps to change, in credits: a whole number (0 or more) sets a cap, null
/// clears it, an absent cap is left as it is. Other names are refused.
#[derive(Debug, Clone, Default, PartialEq, ToSchema, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetCapsRequest {
    #[serde(
        default,
        deserialize_with = "set_or_clear",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub per_call: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "set_or_clear",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub hourly: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "set_or_clear",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub daily: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "set_or_clear",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub weekly: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "set_or_clear",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub monthly: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "set_or_clear",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub total: Option<Option<i64>>,
}

/// A cap that is present: `Some(None)` when null (clear it).
fn set_or_clear<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetResponse {
    pub success: bool,
    pub data: Budget,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetList {
    pub budgets: Vec<Budget>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetListResponse {
    pub success: bool,
    pub data: BudgetList,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetProduct {
    pub budget_id: String,
    pub product_id: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetProductResponse {
    pub success: bool,
    pub data: BudgetProduct,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetWorkflow {
    pub budget_id: String,
    pub workflow_id: String,
    pub enabled: bool,
    /// When enabled: the workflow version the budget runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct BudgetWorkflowResponse {
    pub success: bool,
    pub data: BudgetWorkflow,
}

/// A budget API key, without its secret.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub budget_id: String,
    pub name: String,
    /// The key's visible prefix, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A new API key, with its secret, shown once.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub id: String,
    pub budget_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The key (`tg_...`): send it as `Authorization: Bearer <key>`.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyRequest {
    /// 1 to 100 characters; `default` when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyCreatedResponse {
    pub success: bool,
    pub message: String,
    pub data: CreatedApiKey,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyListResponse {
    pub success: bool,
    pub data: ApiKeyList,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyRevoked {
    pub id: String,
    pub revoked_at: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ApiKeyRevokedResponse {
    pub success: bool,
    pub data: ApiKeyRevoked,
}
