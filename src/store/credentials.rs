//! Rows and storage of the credentials tools need.

use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::id::UserId;
use async_trait::async_trait;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CredentialRow {
    pub user_id: UserId,
    pub product_id: ProductId,
    pub name: String,
    pub value_sealed: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Credentials users store for the tools that need them, sealed.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn put_credential(&self, c: &CredentialRow) -> StoreResult<()>;
    async fn credentials_for(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> StoreResult<Vec<CredentialRow>>;
    async fn credentials_of_user(&self, user_id: UserId) -> StoreResult<Vec<CredentialRow>>;
    async fn delete_credential(
        &self,
        user_id: UserId,
        product_id: ProductId,
        name: &str,
    ) -> StoreResult<bool>;
}
