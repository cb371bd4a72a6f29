//! Wire types: credentials.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CredentialValueRequest {
    /// The secret, 1 to 8192 characters. It is sealed at rest and never shown again.
    #[schema(min_length = 1, max_length = 8192)]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct StoredCredential {
    pub product_id: String,
    pub name: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct StoredCredentialResponse {
    pub success: bool,
    pub data: StoredCredential,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CredentialList {
    pub credentials: Vec<StoredCredential>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CredentialListResponse {
    pub success: bool,
    pub data: CredentialList,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct DeletedCredential {
    pub product_id: String,
    pub name: String,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct DeletedCredentialResponse {
    pub success: bool,
    pub data: DeletedCredential,
}
