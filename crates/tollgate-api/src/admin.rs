//! Wire types: admin.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::credits::{CustomerCreditGrant, CustomerCreditTransaction};
use crate::Object;
/// A credit grant: name the user by `user_id` or `email`.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct GrantRequest {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Credits to grant, more than 0.
    #[schema(minimum = 1)]
    pub amount_credits: i64,
    /// 1 to 64 characters; `admin_grant` when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub credit_type: Option<String>,
    /// When the credits expire (RFC 3339, in the future).
    #[serde(default)]
    #[schema(format = DateTime, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub source_metadata: Option<Object>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct GrantCreated {
    pub grant: CustomerCreditGrant,
    pub transaction: CustomerCreditTransaction,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct GrantCreatedResponse {
    pub success: bool,
    pub data: GrantCreated,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct GrantRevoked {
    pub transaction: CustomerCreditTransaction,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct GrantRevokedResponse {
    pub success: bool,
    pub data: GrantRevoked,
}
