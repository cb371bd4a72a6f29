//! Wire types: auth.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An email and password.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CredentialsRequest {
    /// A valid email address: one `@`, something before it, and a domain of
    /// at least two dot-separated labels of letters, digits and inner hyphens.
    #[schema(
        max_length = 254,
        pattern = r"^[!-?A-~]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    )]
    pub email: String,
    /// 1 to 1024 characters.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

/// A user's new role.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RoleRequest {
    /// `admin`, `vendor` or `customer`.
    #[schema(pattern = "^(admin|vendor|customer)$")]
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RoleChangedData {
    pub user_id: String,
    pub role: String,
}

/// The answer to `PUT /admin/users/{user_id}/role`.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct RoleChangedResponse {
    pub success: bool,
    pub data: RoleChangedData,
}

/// The answer to `POST /auth/logout`.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct LogoutResponse {
    pub success: bool,
    pub message: String,
}

/// An email and a new password.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct NewCredentialsRequest {
    /// A valid email address: one `@`, something before it, and a domain of
    /// at least two dot-separated labels of letters, digits and inner hyphens.
    #[schema(
        max_length = 254,
        pattern = r"^[!-?A-~]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    )]
    pub email: String,
    /// 12 to 1024 characters, not one of the most common passwords
    /// (compared case-insensitively, also with digits or punctuation appended).
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct SignupData {
    pub user_id: String,
    /// The new user's default budget.
    pub budget_id: String,
}

/// A new account.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct SignupResponse {
    pub success: bool,
    pub data: SignupData,
}

/// An access token acting in the user's default budget.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct LoginResponse {
    /// A JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}
