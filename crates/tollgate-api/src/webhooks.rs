//! Wire types: webhooks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct WebhookSecret {
    /// The signing secret.
    pub secret: String,
    /// `HMAC-SHA256`.
    pub algorithm: String,
    /// `Standard Webhooks`.
    pub scheme: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct WebhookSecretResponse {
    pub success: bool,
    pub message: String,
    pub data: WebhookSecret,
}
